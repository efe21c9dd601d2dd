"""nnport convert: OpenVINO IR and ncnn artifacts written atomically, failures name the op."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nnport.backends import make_runner
from nnport.backends.convert import ConvertResult
from nnport.model import load
from nnport.results import loads
from nnport.verify.inputs import generate_inputs


@pytest.mark.parametrize("to", ["openvino", "ncnn"])
def test_convert_writes_an_artifact_that_runs(
    examples_dir: Path, tmp_path: Path, cli: Any, to: str
) -> None:
    pytest.importorskip(to)
    source = examples_dir / "opset17.onnx"
    out = tmp_path / to
    run = cli("convert", source, "--to", to, "-o", out, "-s", "x:1x6x16", "--json")
    assert run.code == 0, run.err
    result = loads(ConvertResult, run.out)
    assert result.to == to and result.seconds > 0
    assert result.size_bytes == sum(p.stat().st_size for p in out.iterdir())
    assert sorted(Path(f).name for f in result.files) == sorted(p.name for p in out.iterdir())
    model = load(source)
    (feed,) = generate_inputs(model, {"x": (1, 6, 16)}, seed=2)
    with make_runner("onnxruntime", model) as ref, make_runner(to, result.artifact) as runner:
        expected, got = ref.infer(feed), runner.infer(feed)
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-4, atol=1e-5)
    text = cli("convert", source, "--to", to, "-o", out, "-s", "x:1x6x16")
    assert text.code == 0 and "size" in text.out and "time" in text.out


def test_convert_failure_names_node_and_op_and_leaves_nothing(
    examples_dir: Path, tmp_path: Path, cli: Any
) -> None:
    pytest.importorskip("ncnn")
    out = tmp_path / "ncnn"
    source = examples_dir / "lp_normalization.onnx"
    run = cli("convert", source, "--to", "ncnn", "-o", out, "-s", "x:1x32")
    assert run.code == 1
    assert "LpNormalization" in run.err and "node(s) 'LpNormalization_1'" in run.err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def test_convert_usage_errors(examples_dir: Path, tmp_path: Path, cli: Any) -> None:
    run = cli("convert", examples_dir / "dynamic_input.onnx", "--to", "ncnn", "-o", tmp_path / "a")
    assert run.code == 2 and "dynamic" in run.err and "--input-shape" in run.err
    run = cli("convert", examples_dir / "opset17.onnx", "--to", "tflite", "-o", tmp_path / "b")
    assert run.code == 2 and "cannot convert to 'tflite'" in run.err
    run = cli(
        "convert", examples_dir / "opset17.onnx", "--to", "openvino", "-o", tmp_path / "x" / "y"
    )
    assert run.code == 2 and "does not exist" in run.err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
