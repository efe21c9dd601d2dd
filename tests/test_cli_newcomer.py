"""What a newcomer tripped on, trying the README's commands (issue 22): compare's default
backend, convert's short flags, target names in any case, and check's pass order."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from nnport.errors import UnsupportedTargetError
from nnport.targets.registry import canonical_name, load_target


def test_compare_against_defaults_to_onnxruntime(cli, examples_dir: Path, tmp_path: Path) -> None:
    source = examples_dir / "opset17.onnx"
    copy = shutil.copy(source, tmp_path / "copy.onnx")
    result = cli("compare", source, "--against", copy, "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["candidate"]["backend"] == "onnxruntime" and data["passed"]


def test_convert_keeps_t_for_target_only(cli, examples_dir: Path, tmp_path: Path) -> None:
    """Every other verb reads -t as --target; convert has no -t, so -t cannot mean two things."""
    result = cli("convert", examples_dir / "opset17.onnx", "-t", "openvino", "-o", tmp_path / "a")
    assert result.code == 2 and "-t" in result.err
    assert not (tmp_path / "a").exists()
    help_text = cli("convert", "--help").out
    assert "--to TEXT" in help_text and "-t," not in help_text
    for verb in ("check", "fix", "port"):
        assert "-t, --target" in cli(verb, "--help").out


@pytest.mark.parametrize("spelling", ["Ascend310", "ASCEND310", " ascend310 "])
def test_target_names_in_any_case(spelling: str) -> None:
    assert canonical_name(spelling) == "ascend310"
    assert load_target(spelling).name == "ascend310"


def test_unknown_target_still_refused() -> None:
    with pytest.raises(UnsupportedTargetError, match="known targets"):
        load_target("Ascend999")
    assert canonical_name("my/profile.toml") == "my/profile.toml"


def test_check_with_a_capitalised_target(cli, examples_dir: Path) -> None:
    result = cli("check", examples_dir / "demo.onnx", "--target", "Ascend310", "--json")
    assert result.code == 1, result.err
    assert json.loads(result.out)["target"] == "ascend310"


def test_port_with_a_capitalised_runtime_target(cli, examples_dir: Path, tmp_path: Path) -> None:
    """`-t OpenVINO` is the shipped openvino profile: the file is named for it, and the
    fixed model is compared on OpenVINO as well as ONNX Runtime."""
    out = tmp_path / "out"
    result = cli(
        "port", examples_dir / "opset17.onnx", "-t", "OpenVINO", "-o", out, "--iterations", "0"
    )
    assert result.code == 0, result.out + result.err
    report = json.loads((out / "report.json").read_text())
    assert report["target"] == "openvino"
    assert {c["candidate"]["backend"] for c in report["compares"]} == {"onnxruntime", "openvino"}
    assert (out / "opset17.openvino.onnx").is_file()


def test_check_lists_the_passes_in_the_order_fix_applies_them(
    cli, examples_dir: Path, tmp_path: Path
) -> None:
    demo = examples_dir / "demo.onnx"
    text = " ".join(cli("check", demo, "-t", "ascend310").out.split())
    match = re.search(r"fix would apply, in this order: (.+?) apply and verify", text)
    assert match, text
    listed = match.group(1).split(", ")
    run = cli("fix", demo, "-t", "ascend310", "-o", tmp_path / "fixed.onnx", "--json")
    assert run.code == 0, run.err
    applied = [p["fix"] for p in json.loads(run.out)["passes"] if p["kept"]]
    assert listed == applied == ["freeze-shapes", "convert-opset", "retype-int64"]
