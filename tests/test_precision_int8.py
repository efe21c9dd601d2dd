"""int8 emulation: QDQ with per-channel symmetric weights and per-tensor activations, each
calibrator, and calibration samples from an .npz, an image folder or generated inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx_ir as ir
import pytest

from graphs import parse
from nnport.backends.onnxruntime import OnnxRuntimeRunner
from nnport.errors import UsageError
from nnport.precision.int8 import Int8Options, quantize_int8
from nnport.verify.precision import Calibration, calibration_feeds

RNG = np.random.default_rng(0)
W = ",".join(f"{v:.4f}" for v in RNG.standard_normal(4 * 3 * 3 * 3))
CONV = f"""<ir_version: 8, opset_import: ["" : 17]>
g (float[1,3,8,8] x) => (float[1,4,6,6] y) <float[4,3,3,3] w = {{{W}}}> {{
  c = Conv(x, w)
  y = Relu(c)
}}"""


def _run(model: ir.Model, feed: dict[str, np.ndarray]) -> np.ndarray:
    with OnnxRuntimeRunner(model, optimization="disable") as runner:
        return runner.infer(feed)["y"]


@pytest.mark.parametrize("calibrator", ["minmax", "percentile", "entropy"])
def test_qdq_close_to_fp32_with_each_calibrator(calibrator: str) -> None:
    model = parse(CONV)
    before = ir.serde.serialize_model(model).SerializeToString()
    feeds = [{"x": RNG.standard_normal((1, 3, 8, 8)).astype(np.float32)} for _ in range(16)]
    quantized = quantize_int8(model, feeds, Int8Options(calibrator=calibrator))
    assert ir.serde.serialize_model(model).SerializeToString() == before
    ops = [n.op_type for n in quantized.graph]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops and "Conv" in ops
    # the weight: per output channel (axis 0), symmetric (zero points 0)
    weight_dq = [
        n for n in quantized.graph
        if n.op_type == "DequantizeLinear" and n.inputs[0] is not None
        and n.inputs[0].const_value is not None and n.inputs[0].dtype == ir.DataType.INT8
    ]  # fmt: skip
    assert len(weight_dq) == 1
    scale = weight_dq[0].inputs[1].const_value.numpy()  # type: ignore[union-attr]
    zero = weight_dq[0].inputs[2].const_value.numpy()  # type: ignore[union-attr]
    assert scale.shape == (4,) and not zero.any()
    x = RNG.standard_normal((1, 3, 8, 8)).astype(np.float32)
    ref, got = _run(model, {"x": x}), _run(quantized, {"x": x})
    sqnr = 10 * np.log10((ref**2).sum() / ((got - ref) ** 2).sum())
    assert 15 < sqnr < 60  # int8: close, but not fp32
    assert quantized.metadata_props["nnport.int8_calibrator"] == calibrator


def test_calibration_sources(tmp_path: Path, mnist_dir: Path) -> None:
    model = parse(CONV)
    npz = tmp_path / "calib.npz"
    np.savez(npz, **{f"x__{i}": np.full((1, 3, 8, 8), i, np.float32) for i in range(10)})
    feeds, text = calibration_feeds(model, Calibration(str(npz), samples=4, seed=1))
    assert len(feeds) == 4 and "calib.npz" in text
    again, _ = calibration_feeds(model, Calibration(str(npz), samples=4, seed=1))
    assert [f["x"][0, 0, 0, 0] for f in feeds] == [f["x"][0, 0, 0, 0] for f in again]
    generated, text = calibration_feeds(model, Calibration(None, samples=3))
    assert len(generated) == 3 and "generated" in text
    mnist = parse(
        '<ir_version: 8, opset_import: ["" : 17]> g (float[N,1,28,28] x) => (float[N,1,28,28] y)'
        " { y = Relu(x) }"
    )
    feeds, text = calibration_feeds(mnist, Calibration(f"mnist:{mnist_dir}", samples=5))
    assert len(feeds) == 5 and feeds[0]["x"].shape == (1, 1, 28, 28) and "MNIST" in text
    assert feeds[0]["x"].min() < -0.4  # normalized with MNIST's mean and std
    with pytest.raises(UsageError, match="is not mnist:DIR"):
        calibration_feeds(model, Calibration(str(tmp_path / "missing")))


def test_unknown_calibrator_refused() -> None:
    with pytest.raises(UsageError, match="unknown calibrator 'kl'"):
        Int8Options(calibrator="kl")
