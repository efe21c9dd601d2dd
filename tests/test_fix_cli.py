"""``nnport fix`` end to end in-process: exit codes, atomic output, JSON, rollback, input safety."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from nnport.check import check
from nnport.model.io import load
from nnport.passes import FixOptions, FixResult, fix
from nnport.results import loads


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fix_demo_for_ascend310_prints_the_atc_line(
    cli: Any, examples_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "demo_fixed.onnx"
    before = digest(examples_dir / "demo.onnx")
    result = cli("fix", examples_dir / "demo.onnx", "--target", "ascend310", "-o", out)
    assert result.code == 0, result.err
    assert "deployable on ascend310, outputs verified" in result.out
    assert "atc --model=" in result.out and "--framework=5" in result.out
    assert "--soc_version=Ascend310" in result.out
    assert check(load(out), "ascend310").deployable
    assert digest(examples_dir / "demo.onnx") == before


def test_json_round_trips(cli: Any, examples_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "fixed.onnx"
    args = ["fix", examples_dir / "dynamic_input.onnx", "-t", "ascend310", "-o", out]
    result = cli(*args, "-s", "x:1x3x32x32", "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["deployable"] and data["verified"]
    assert data["input_shapes"] == {"x": [1, 3, 32, 32]}
    assert "--input_shape=x:1,3,32,32" in data["atc_command"]
    parsed = loads(FixResult, result.out)
    assert parsed.passes[0].fix == "freeze-shapes" and parsed.passes[0].kept
    assert parsed.model is None


def test_remaining_violations_exit_1_and_still_write(
    cli: Any, examples_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "lp.onnx"
    result = cli("fix", examples_dir / "lp_normalization.onnx", "-t", "nnie", "-o", out)
    assert result.code == 1
    assert "not deployable on nnie" in result.out and "LpNormalization" in result.out
    assert out.is_file() and load(out) is not None
    assert not list(tmp_path.glob(".nnport-*"))  # no temp files left behind


def test_refuses_to_overwrite_its_input(cli: Any, examples_dir: Path, tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    shutil.copy(examples_dir / "cast_int64.onnx", model)
    before = digest(model)
    result = cli("fix", model, "-t", "ascend310", "-o", model)
    assert result.code == 2 and "refusing to overwrite" in result.err
    assert digest(model) == before


def test_bad_input_exits_2(cli: Any, examples_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.onnx"
    missing = cli("fix", tmp_path / "nope.onnx", "-t", "ascend310", "-o", out)
    assert missing.code == 2 and "no such file" in missing.err
    bad_shape = cli("fix", examples_dir / "dynamic_input.onnx", "-t", "ascend310", "-o", out,
                    "-s", "x:1x3")  # fmt: skip
    assert bad_shape.code == 2 and "rank" in bad_shape.err
    needs_shape = cli("fix", examples_dir / "dynamic_input.onnx", "-t", "ascend310", "-o", out)
    assert needs_shape.code == 2 and "--input-shape" in needs_shape.err
    unknown = cli("fix", examples_dir / "demo.onnx", "-t", "no-such-target", "-o", out)
    assert unknown.code == 2
    assert not out.exists()


def test_user_inputs_npz_drive_verification(cli: Any, examples_dir: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    npz = tmp_path / "inputs.npz"
    np.savez(
        npz,
        x=rng.standard_normal((1, 4, 8, 8)).astype(np.float32),
        ind=rng.integers(0, 64, (1, 4, 16)).astype(np.int64),
    )
    out = tmp_path / "g.onnx"
    result = cli("fix", examples_dir / "gather_elements.onnx", "-t", "ascend310", "-o", out,
                 "--inputs", npz, "--json")  # fmt: skip
    assert result.code == 0, result.err
    assert json.loads(result.out)["verification"].startswith("1 feed(s)")


def test_a_pass_drifting_beyond_tolerance_is_rolled_back(examples_dir: Path) -> None:
    # The LayerNorm decomposition moves float32 outputs by ~1e-7: with zero tolerance it drifts.
    original = load(examples_dir / "opset17.onnx")
    strict = fix(original, "ascend310", options=FixOptions(rtol=0.0, atol=0.0))
    assert not strict.deployable and strict.verified
    rolled = [p for p in strict.passes if not p.kept and p.reason.startswith("rolled back")]
    assert rolled and "drifted" in rolled[0].reason and rolled[0].max_error > 0
    loose = fix(original, "ascend310")
    assert loose.deployable and loose.verified and 0 < loose.max_error < 1e-5


def test_help_mentions_the_contract(cli: Any) -> None:
    result = cli("fix", "--help")
    assert result.code == 0
    assert "--target" in result.out and "--inputs" in result.out and "--rtol" in result.out


def test_batch_gears_are_verified_before_the_atc_line_uses_them(
    cli: Any, examples_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "demo.onnx"
    ok = cli("fix", examples_dir / "demo.onnx", "-t", "ascend310", "-o", out,
             "--batch-gears", "1,2,4", "--json")  # fmt: skip
    data = json.loads(ok.out)
    assert ok.code == 0 and data["batch_gears"] == [1, 2, 4]
    assert "--dynamic_batch_size=1,2,4" in data["atc_command"]
    assert "image:-1,3,16,16" in data["atc_command"]
    # dynamic_input's folded Reshape bakes batch 1 into the graph: the gears are refused.
    baked = cli("fix", examples_dir / "dynamic_input.onnx", "-t", "ascend310", "-o", out,
                "-s", "x:1x3x16x16", "--batch-gears", "1,4", "--json")  # fmt: skip
    data = json.loads(baked.out)
    assert baked.code == 0 and data["batch_gears"] == []
    assert data["gears_note"].startswith("batch 4")
    assert "--dynamic_batch_size" not in data["atc_command"]
