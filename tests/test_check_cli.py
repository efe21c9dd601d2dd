"""``nnport check`` and ``nnport targets`` from the command line: exit codes, JSON shape, errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx
import pytest

from nnport.check import CheckReport
from nnport.results import loads

Cli = Callable[..., Any]


def test_check_not_deployable_exits_1_with_json(cli: Cli, examples_dir: Path) -> None:
    result = cli("check", examples_dir / "cast_int64.onnx", "--target", "ascend310", "--json")
    assert result.code == 1, result.err
    data = json.loads(result.out)
    assert data["target"] == "ascend310" and data["deployable"] is False
    (violation,) = data["violations"]
    assert {"node", "op", "rule", "message", "fix"} <= set(violation)
    assert (violation["node"], violation["rule"], violation["fix"]) == (
        "Cast_3",
        "dtype-unsupported",
        "retype-int64",
    )
    assert data["summary"][0]["count"] == 1
    report = loads(CheckReport, result.out)  # the JSON round-trips into the result type
    assert report.violations[0].node == "Cast_3"


def test_check_deployable_exits_0(cli: Cli, examples_dir: Path) -> None:
    result = cli("check", examples_dir / "demo.onnx", "-t", "onnxruntime")
    assert result.code == 0, result.err
    assert "deployable on onnxruntime" in result.out


def test_check_terminal_report(cli: Cli, examples_dir: Path) -> None:
    result = cli("check", examples_dir / "demo.onnx", "--target", "nnie")
    assert result.code == 1
    out = " ".join(result.out.split())
    assert "NOT deployable on nnie" in out
    assert "l2norm LpNormalization op-unsupported -> decompose-lpnorm" in out
    assert "[batch,3,16,16]" in out  # shapes are printed, not eaten as markup
    assert "summary" in out


def test_check_input_shape_option(cli: Cli, examples_dir: Path) -> None:
    model = examples_dir / "lp_normalization.onnx"
    assert cli("check", model, "-t", "ascend310").code == 1
    result = cli("check", model, "-t", "ascend310", "--input-shape", "x:2x32", "--json")
    assert result.code == 0, result.out
    assert json.loads(result.out)["input_shapes"] == {"x": [2, 32]}
    bad = cli("check", model, "-t", "ascend310", "--input-shape", "x:2x3x4")
    assert bad.code == 2 and "rank" in bad.err


def test_check_bad_input_exits_2(cli: Cli, examples_dir: Path, tmp_path: Path) -> None:
    unknown = cli("check", examples_dir / "demo.onnx", "--target", "ascend999")
    assert unknown.code == 2
    err = " ".join(unknown.err.split())
    assert "unknown target 'ascend999'" in err and "ascend310" in err and "nnie" in err
    assert "Traceback" not in unknown.err
    missing = cli("check", tmp_path / "missing.onnx", "--target", "ascend310")
    assert missing.code == 2 and "no such file" in missing.err
    no_target = cli("check", examples_dir / "demo.onnx")
    assert no_target.code == 2
    invalid = tmp_path / "invalid.onnx"
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Relu", ["undefined"], ["y"])],
        "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
    )
    invalid.write_bytes(onnx.helper.make_model(graph).SerializeToString())
    refused = cli("check", invalid, "--target", "ascend310")
    assert refused.code == 2 and "not a valid ONNX model" in refused.err
    bad_profile = tmp_path / "bad.toml"
    bad_profile.write_text('name = "x"\n')
    broken = cli("check", examples_dir / "demo.onnx", "--target", bad_profile)
    assert broken.code == 2 and "invalid target profile" in broken.err


def test_targets_list_and_show(cli: Cli) -> None:
    listing = cli("targets")
    assert listing.code == 0
    for name in ("ascend310", "ascend310p", "nnie", "onnxruntime", "tensorrt"):
        assert name in listing.out
    data = json.loads(cli("targets", "--json").out)
    by_name = {t["name"]: t for t in data}
    assert by_name["ascend310"]["opsets"] == "ai.onnx 9-13"
    assert by_name["ascend310"]["date"] and by_name["ascend310"]["source"]
    shown = cli("targets", "show", "ascend310")
    assert shown.code == 0 and "Cast" in shown.out and "9-13" in shown.out
    as_json = json.loads(cli("targets", "show", "nnie", "--json").out)
    assert as_json["name"] == "nnie" and as_json["graph"]["max_rank"] == 4
    assert cli("targets", "show", "nope").code == 2
    only_cast = json.loads(cli("targets", "show", "ascend310", "--op", "Cast", "--json").out)
    assert [o["op"] for o in only_cast["ops"]] == ["Cast"]
    assert "int64" not in only_cast["ops"][0]["output_dtypes"]
    missing = cli("targets", "show", "nnie", "--op", "Tile")
    assert missing.code == 2 and "nnie lists none of Tile" in missing.err


def test_targets_probe_refuses_unknown_backends(cli: Cli, tmp_path: Path) -> None:
    result = cli("targets", "probe", "--backend", "tflite", "-o", tmp_path / "p.toml")
    assert result.code == 2 and "tflite" in result.err
    assert not (tmp_path / "p.toml").exists()


def test_help_texts(cli: Cli) -> None:
    assert "Exit 0 when deployable" in " ".join(cli("check", "--help").out.split())
    assert "probe" in cli("targets", "--help").out


@pytest.mark.slow
def test_targets_probe_writes_a_profile_check_reads(
    cli: Cli, examples_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "probed.toml"
    result = cli("targets", "probe", "--backend", "onnxruntime", "-o", out, "--op", "Cast")
    assert result.code == 0, result.err
    assert out.is_file()
    report = cli("check", examples_dir / "cast_int64.onnx", "--target", out, "--json")
    data = json.loads(report.out)
    assert data["target"] == "probed"
    # Only Cast was probed: MatMul, Mul and Floor are unknown to this profile.
    assert {v["op"] for v in data["violations"]} >= {"MatMul", "Floor"}
