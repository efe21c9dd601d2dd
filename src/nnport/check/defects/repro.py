"""The minimal model that shows a runtime defect, its feeds, and for a refusal the control model
that differs only in what is refused."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx


@dataclasses.dataclass(frozen=True)
class Repro:
    """A model and feeds that show a defect; ``control`` (refusals): the nearest model the
    runtime still runs, so that a failure of ``model`` is the defect and not something else,
    fed ``control_feeds`` (default: ``feeds``)."""

    model: onnx.ModelProto
    feeds: dict[str, np.ndarray]
    control: onnx.ModelProto | None = None
    control_feeds: dict[str, np.ndarray] | None = None


def checked_model(graph: onnx.GraphProto, opset: int, ir_version: int = 8) -> onnx.ModelProto:
    """A repro's graph as a model of the default domain at ``opset``, validated by onnx."""
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    onnx.checker.check_model(model)
    return model


def after_anchor(
    name: str,
    node: onnx.NodeProto,
    output_shape: list[int],
    constants: dict[str, np.ndarray],
    opset: int = 13,
) -> Repro:
    """A repro of ``node`` reading ``p``, a 1x1 MaxPool of x [1, 3, 4, 5] (exact, and an op from
    which pnnx learns the batch axis), with ``constants`` as initializers, fed x = 0..59."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[1, 1]), node], name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 5])],
        [helper.make_tensor_value_info(node.output[0], TensorProto.FLOAT, output_shape)],
        [numpy_helper.from_array(v, k) for k, v in constants.items()],
    )  # fmt: skip
    feeds = {"x": np.arange(60, dtype=np.float32).reshape(1, 3, 4, 5)}
    return Repro(checked_model(graph, opset), feeds)
