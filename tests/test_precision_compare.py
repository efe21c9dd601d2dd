"""compare --precision: a model whose intermediate overflows fp16 fails and names the node; a
plain model passes in fp16, bf16 and int8; results round-trip through JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnx_ir as ir
import pytest

from nnport.precision.native import openvino_cpu_capabilities, plan_precision
from nnport.results import dumps, loads
from nnport.verify.compare import CompareOptions, CompareResult, compare


def _model(weight: float) -> onnx.ModelProto:
    """x (1x8) -> MatMul(8x8 of ``weight``) -> square -> Relu; with weight 400 and inputs of
    a few units, the square reaches about 1e6, far over fp16's 65504."""
    rng = np.random.default_rng(0)
    w = (weight * (1 + 0.1 * rng.standard_normal(64))).round(3)
    text = f"""<ir_version: 8, opset_import: ["" : 17]>
    g (float[1,8] x) => (float[1,8] y) <float[8,8] w = {{{",".join(map(str, w))}}}> {{
      a = MatMul(x, w)
      b = Mul(a, a)
      c = Relu(b)
      y = Sqrt(c)
    }}"""
    model = onnx.parser.parse_model(text)
    for i, node in enumerate(model.graph.node):
        node.name = ["project", "square", "relu", "root"][i]
    return model


@pytest.fixture
def overflowing(tmp_path: Path) -> Path:
    path = tmp_path / "overflow.onnx"
    onnx.save(_model(400.0), path)
    return path


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    path = tmp_path / "plain.onnx"
    onnx.save(_model(0.5), path)
    return path


def test_overflow_fails_in_fp16_and_names_the_node(overflowing: Path, cli: Callable) -> None:
    result = cli("compare", overflowing, "--precision", "fp16", "--bisect")
    assert result.code == 1
    assert "first overflow in fp16: node 'square' (Mul)" in " ".join(result.out.split())
    assert "bisect: first divergence at node 'square' (Mul)" in " ".join(result.out.split())
    assert "precision=fp16 (emulated)" in result.out
    # the same model passes in fp32, and in bf16, whose range is float32's
    assert cli("compare", overflowing).code == 0
    assert cli("compare", overflowing, "--precision", "bf16").code == 0


def test_overflow_json_names_node_and_round_trips(overflowing: Path, cli: Callable) -> None:
    result = cli("compare", overflowing, "--precision", "fp16", "--json")
    assert result.code == 1
    data = json.loads(result.out)
    assert data["precision"] == "fp16" and data["precision_mode"] == "emulated"
    assert [r["node"] for r in data["ranges"]["over"]] == ["square", "relu"]
    assert data["ranges"]["over"][0]["max_abs"] > 65504
    # y = sqrt(square) is back in range in fp32, but sqrt(inf) is inf: the output carries it
    assert data["outputs"][0]["inf_reference"] == 0 and data["outputs"][0]["inf_candidate"] == 8
    parsed = loads(CompareResult, result.out)
    assert parsed.ranges is not None and parsed.ranges.first_over is not None
    assert parsed.ranges.first_over.node == "square"
    assert loads(CompareResult, dumps(parsed)) == parsed


@pytest.mark.parametrize("precision", ["fp16", "bf16", "int8"])
def test_plain_model_passes(plain: Path, cli: Callable, precision: str) -> None:
    result = cli("compare", plain, "--precision", precision, "--samples", "4")
    assert result.code == 0, result.out
    assert f"precision={precision} (emulated)" in result.out


def test_emulated_output_differs_from_fp32_by_format_rounding(plain: Path) -> None:
    model = ir.serde.deserialize_model(onnx.load(plain))
    fp16 = compare(model, options=CompareOptions(precision="fp16", min_sqnr_db=30))
    bf16 = compare(model, options=CompareOptions(precision="bf16", min_sqnr_db=20))
    # fp16 keeps 3 more mantissa bits than bf16: about 18 dB more SQNR
    assert 40 < fp16.outputs[0].snr_db < 90
    assert bf16.outputs[0].snr_db < fp16.outputs[0].snr_db - 10
    assert fp16.ranges is not None and not fp16.ranges.over
    assert fp16.ranges.largest is not None and fp16.ranges.largest.node == "square"


def test_unknown_precision_is_a_usage_error(plain: Path, cli: Callable) -> None:
    result = cli("compare", plain, "--precision", "fp8")
    assert result.code == 2
    assert "unknown precision 'fp8'" in result.err and "Traceback" not in result.err


def test_openvino_precision_native_only_with_the_cpu_unit() -> None:
    pytest.importorskip("openvino")
    plan = plan_precision("openvino", "fp16")
    if "FP16" in openvino_cpu_capabilities():
        assert plan.mode == "native" and plan.options == {"precision": "f16"}
    else:
        assert plan.mode == "emulated" and plan.backend == "onnxruntime"
        assert "emulated on ONNX Runtime" in plan.note
    assert plan_precision("ncnn", "fp16").label == "precision=fp16 (native)"
    assert plan_precision("ncnn", "bf16").mode == "emulated"


def test_a_backend_that_can_neither_run_nor_emulate_is_refused() -> None:
    from nnport.errors import UsageError

    with pytest.raises(UsageError, match="cannot run fp16"):
        plan_precision("torch", "fp16")


def test_range_scan_is_chunked_within_its_budget(overflowing: Path) -> None:
    from nnport.backends import make_runner
    from nnport.verify.ranges import scan_ranges

    model = ir.serde.deserialize_model(onnx.load(overflowing))
    feeds = [{"x": np.full((1, 8), 3.0, np.float32)}]

    def make(path: object) -> object:
        return make_runner("onnxruntime", path)  # type: ignore[arg-type]

    whole = scan_ranges(model, feeds, make, "fp16")  # type: ignore[arg-type]
    tiny = scan_ranges(model, feeds, make, "fp16", budget_bytes=1)  # type: ignore[arg-type]
    assert whole.runs == 1 and tiny.runs == whole.scanned == 4  # one tensor per run
    assert tiny.over == whole.over and [r.node for r in whole.over] == ["square", "relu"]
    assert whole.over[0].max_abs == pytest.approx(float(np.max((3.0 * np.sum(
        onnx.numpy_helper.to_array(onnx.load(overflowing).graph.initializer[0]), axis=0)) ** 2)),
        rel=1e-5)  # fmt: skip
