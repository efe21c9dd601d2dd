"""Models that arrive quantized (QDQ, as onnxruntime.quantization writes them): one answer per
target from check, and ``fix --fold-qdq`` folding Q/DQ back to float with the difference to the
quantized model measured and the scales written for the converter."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from nnport.check import check
from nnport.model import load
from nnport.passes.fold_qdq import fold_qdq
from nnport.passes.verify import run_model

Cli = Callable[..., Any]  # the conftest ``cli`` fixture


def _float_model() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    w1 = (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32)
    b1 = rng.standard_normal(8).astype(np.float32)
    w2 = (rng.standard_normal((4, 8, 3, 3)) * 0.3).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r"], name="relu"),
        helper.make_node("Conv", ["r", "w2"], ["y"], name="conv2", pads=[1, 1, 1, 1]),
    ]
    graph = helper.make_graph(
        nodes,
        "small",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
        [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"))],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the float model, its static QDQ quantization by onnxruntime.quantization)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    folder = tmp_path_factory.mktemp("qdq")
    onnx.save(_float_model(), folder / "small.onnx")
    rng = np.random.default_rng(1)

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.data = iter(
                [{"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32)} for _ in range(16)]
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.data, None)

    quantize_static(
        str(folder / "small.onnx"), str(folder / "small_qdq.onnx"), Reader(),
        quant_format=QuantFormat.QDQ, per_channel=True, weight_type=QuantType.QInt8,
        activation_type=QuantType.QInt8,
    )  # fmt: skip
    return folder / "small.onnx", folder / "small_qdq.onnx"


def _feeds() -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(2)
    return [{"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32)} for _ in range(2)]


def test_folding_gives_back_the_float_model_and_measures_the_difference(
    models: tuple[Path, Path],
) -> None:
    """The folded model holds no Q/DQ, puts back the Relu the quantizer dropped into the
    zero point, and matches the float original up to weight rounding; the stated difference
    to the quantized model is what running both shows."""
    float_path, qdq_path = models
    quantized = load(qdq_path)
    feeds = _feeds()
    folded, report = fold_qdq(quantized, feeds)
    assert not any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in folded.graph)
    assert report.left == 0 and report.pairs >= 2 and report.weights >= 2
    _e, original = run_model(load(float_path), feeds)
    _e, back = run_model(folded, feeds)
    _e, q = run_model(quantized, feeds)
    for a, b, c in zip(original, back, q, strict=True):
        assert np.max(np.abs(a["y"] - b["y"])) < 0.02 * np.max(np.abs(a["y"]))
        assert report.max_abs >= float(np.max(np.abs(b["y"] - c["y"]))) - 1e-6
    assert 0.9 < report.cosine <= 1.0
    assert {s.kind for s in report.scales} == {"activation", "weight"}
    assert not any(np.isnan(s.scale).any() for s in report.scales)


def test_check_says_one_thing_per_target(models: tuple[Path, Path]) -> None:
    _float, qdq_path = models
    model = load(qdq_path)
    for target in ("ascend310", "ncnn", "nnie"):
        report = check(model, target)
        quantized = [v for v in report.violations if v.rule == "quantized-model"]
        assert len(quantized) == 1, (target, [v.rule for v in report.violations])
        assert "--fold-qdq" in quantized[0].message
        assert not any(v.op in ("QuantizeLinear", "DequantizeLinear") and v.rule != "quantized-model"
                       for v in report.violations)  # fmt: skip
    report = check(model, "onnxruntime")
    assert report.deployable
    assert any("runs QDQ models as is" in n for n in report.notes)


def test_fix_fold_qdq_writes_the_scales_for_ncnn(
    models: tuple[Path, Path], tmp_path: Path, cli: Cli
) -> None:
    _float, qdq_path = models
    out = tmp_path / "folded.onnx"
    result = cli("fix", qdq_path, "-t", "ncnn", "-o", out, "--fold-qdq", "--json")
    assert result.code in (0, 1), result.err  # ncnn's own verdict on the float model
    data = json.loads(result.out)
    fold = data["qdq_fold"]
    assert fold["scales_file"] == str(tmp_path / "folded.qdq_scales.json")
    scales = json.loads((tmp_path / "folded.qdq_scales.json").read_text(encoding="utf-8"))
    assert {t["kind"] for t in scales["tensors"]} == {"activation", "weight"}
    table = (tmp_path / "folded.ncnn.table").read_text(encoding="utf-8").splitlines()
    assert any(line.startswith("conv1_param_0 ") for line in table)
    assert any(line.split()[0] == "conv2" for line in table)
    assert not any(n.op_type.endswith("Linear") for n in load(out).graph)


def test_fix_without_fold_leaves_the_quantized_model_to_the_user(
    models: tuple[Path, Path], tmp_path: Path, cli: Cli
) -> None:
    _float, qdq_path = models
    result = cli("fix", qdq_path, "-t", "ascend310", "-o", tmp_path / "o.onnx", "--json")
    assert result.code == 1
    data = json.loads(result.out)
    assert [r["rule"] for r in data["remaining"]] == ["quantized-model"]
    assert data["qdq_fold"] is None
