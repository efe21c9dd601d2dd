"""resize-nearest-index: the index maps check compares. ONNX's side against ONNX Runtime's own
nearest Resize; ncnn's side, through the verdict, against real ncnn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from nnport.check import check
from nnport.check.defects.resize_index import onnx_index
from nnport.model.io import load
from runtimes import matches_onnxruntime

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MODES = ["half_pixel", "pytorch_half_pixel", "asymmetric", "tf_half_pixel_for_nn", "align_corners"]
ROUNDING = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]


def _resize(n_in: int, n_out: int, **attributes: str) -> onnx.ModelProto:
    """Resize of [1, 1, 1, n_in] to sizes [1, 1, 1, n_out]."""
    graph = helper.make_graph(
        [helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="nearest", **attributes)],
        "resize",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 1, n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 1, n_out])],
        [numpy_helper.from_array(np.array([1, 1, 1, n_out], np.int64), "sizes")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize("ctm", MODES)
@pytest.mark.parametrize("rounding", ROUNDING)
def test_onnx_index_is_what_onnxruntime_picks(ctm: str, rounding: str) -> None:
    import onnxruntime as ort

    for n_in, n_out in [(8, 4), (9, 3), (8, 6), (8, 5), (4, 1), (3, 7), (4, 8), (5, 2)]:
        model = _resize(n_in, n_out, coordinate_transformation_mode=ctm, nearest_mode=rounding)
        session = ort.InferenceSession(model.SerializeToString())
        x = np.arange(n_in, dtype=np.float32).reshape(1, 1, 1, n_in)
        (picked,) = session.run(None, {"x": x})
        ours = [onnx_index(y, n_in, n_out, n_out / n_in, ctm, rounding) for y in range(n_out)]
        assert picked.reshape(-1).astype(int).tolist() == ours, (n_in, n_out)


@pytest.mark.parametrize(
    ("ctm", "n_in", "n_out"),
    [(None, 8, 4), (None, 8, 6), ("asymmetric", 8, 6),
     # the rest of the sweep (a pnnx conversion and an ncnn run each): pytest -m slow
     *(pytest.param(*case, marks=pytest.mark.slow) for case in [
         (None, 9, 3), (None, 4, 1), (None, 4, 8), ("asymmetric", 9, 3), ("asymmetric", 4, 1)])],
)  # fmt: skip
def test_check_agrees_with_ncnn_on_nearest_resizes(
    tmp_path: Path, ctm: str | None, n_in: int, n_out: int
) -> None:
    """A Conv, then a nearest Resize to sizes (nearest_mode left out, as pnnx needs it)."""
    pytest.importorskip("ncnn")
    attributes = {"coordinate_transformation_mode": ctm} if ctm else {}
    weight = np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"]),
         helper.make_node("Resize", ["c", "", "", "sizes"], ["y"], mode="nearest", **attributes)],
        "resize",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, n_in, n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, n_out, n_out])],
        [numpy_helper.from_array(weight, "w"),
         numpy_helper.from_array(np.array([1, 3, n_out, n_out], np.int64), "sizes")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "resize.onnx"
    onnx.save(model, path)
    assert check(load(path), "ncnn").deployable == matches_onnxruntime("ncnn", path)
