"""Rule input-not-scalar (``one_element_inputs``): ONNX Runtime's ConvInteger takes per-tensor
zero points only. The shipped onnxruntime profile says so, and real ONNX Runtime agrees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx.parser
import pytest

from nnport.backends import make_runner
from nnport.check import check
from nnport.errors import BackendError
from nnport.model.io import load
from nnport.targets import load_target

CONV_INTEGER = """
    <ir_version: 8, opset_import: ["" : 10]>
    g (uint8[1, 1, 3, 3] x, uint8[2, 1, 2, 2] w, uint8 xz, uint8[{n}] wz) => (int32[1, 2, 2, 2] y) {{
        y = ConvInteger(x, w, xz, wz)
    }}
"""


@pytest.mark.parametrize("channels", [1, 2])
def test_conv_integer_zero_points_per_tensor_only(tmp_path: Path, channels: int) -> None:
    path = tmp_path / "conv_integer.onnx"
    onnx.save(onnx.parser.parse_model(CONV_INTEGER.format(n=channels)), path)
    feeds = {
        "x": np.arange(9, dtype=np.uint8).reshape(1, 1, 3, 3),
        "w": np.ones((2, 1, 2, 2), np.uint8),
        "xz": np.array(1, np.uint8),
        "wz": np.zeros(channels, np.uint8),
    }
    report = check(load(path), "onnxruntime")
    if channels == 1:
        assert report.deployable
        with make_runner("onnxruntime", path) as runner:
            assert runner.infer(feeds)["y"].shape == (1, 2, 2, 2)
        return
    (v,) = report.violations
    assert (v.rule, v.op, v.tensor) == ("input-not-scalar", "ConvInteger", "wz")
    assert "holds 2 elements" in v.message
    with pytest.raises(BackendError, match="per-tensor"), make_runner("onnxruntime", path) as r:
        r.infer(feeds)


def test_the_limit_is_in_the_shipped_profile() -> None:
    (rule,) = load_target("onnxruntime").rules_for("ConvInteger", "")
    assert rule.one_element_inputs == (2, 3)
