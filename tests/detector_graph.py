"""A tiny SSD-like detector (conv heads + NonMaxSuppression) for the split-postprocess tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def detector_model(
    nms_on_input: bool = False, nms_in_if: bool = False, normalize: bool = False, nms: bool = True
) -> onnx.ModelProto:
    """Conv backbone, box and score heads, NMS, Gather of the kept boxes (a tiny SSD)."""
    rng = np.random.default_rng(0)

    def init(name: str, array: Any) -> TensorProto:
        return numpy_helper.from_array(np.asarray(array), name)

    inits = [
        init("w1", (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32)),
        init("wb", (rng.standard_normal((4, 8, 1, 1)) * 0.3).astype(np.float32)),
        init("ws", (rng.standard_normal((2, 8, 1, 1)) * 0.3).astype(np.float32)),
        init("shape_b", np.array([1, 16, 4], np.int64)),
        init("shape_s", np.array([1, 16, 2], np.int64)),
        init("max_out", np.array([5], np.int64)),
        init("iou", np.array([0.5], np.float32)),
        init("thr", np.array([0.2], np.float32)),
        init("col", np.array([2], np.int64)),
        init("zero", np.array([0], np.int64)),
    ]
    node = helper.make_node
    nodes = [
        node("Conv", ["x", "w1"], ["f0"], pads=[1, 1, 1, 1], strides=[2, 2], name="conv1"),
        node("Relu", ["f0"], ["f"], name="relu"),
        node("Conv", ["f", "wb"], ["b0"], name="box_conv"),
        node("Conv", ["f", "ws"], ["s0"], name="score_conv"),
        node("Transpose", ["b0"], ["b1"], perm=[0, 2, 3, 1], name="tb"),
        node("Reshape", ["b1", "shape_b"], ["boxes"], name="rb"),
        node("Transpose", ["s0"], ["s1"], perm=[0, 2, 3, 1], name="ts"),
        node("Reshape", ["s1", "shape_s"], ["s2"], name="rs"),
        node("Sigmoid", ["s2"], ["s3"], name="sig"),
        node("Transpose", ["s3"], ["scores"], perm=[0, 2, 1], name="ts2"),
        node(
            "NonMaxSuppression", ["boxes", "scores", "max_out", "iou", "thr"], ["sel"], name="nms"
        ),
        node("Gather", ["sel", "col"], ["idx2"], axis=1, name="gcol"),
        node("Squeeze", ["idx2"], ["idx"], name="sq"),
        node("Squeeze", ["boxes", "zero"], ["boxes0"], name="sqb"),
        node("Gather", ["boxes0", "idx"], ["det"], axis=0, name="gbox"),
    ]
    if nms_in_if:  # torchvision's batched_nms: NMS inside an If on "any box at all"
        sel = helper.make_tensor_value_info("sel_b", TensorProto.INT64, ["K", 3])
        then = helper.make_graph(
            [node("NonMaxSuppression", ["boxes", "scores", "max_out", "iou", "thr"], ["sel_b"])],
            "then", [], [sel],
        )  # fmt: skip
        empty = numpy_helper.from_array(np.zeros((0, 3), np.int64), "none")
        other = helper.make_graph(
            [node("Constant", [], ["sel_b"], value=empty)], "else", [], [sel]
        )  # fmt: skip
        inits.append(init("low", np.array(0.0, np.float32)))
        nodes[10:11] = [
            node("ReduceMax", ["scores"], ["top"], keepdims=0, name="top"),
            node("Greater", ["top", "low"], ["any"], name="any"),
            node("If", ["any"], ["sel"], then_branch=then, else_branch=other, name="nms_if"),
        ]
    if normalize:  # (x - mean) / std in the graph, as torchvision's detectors do
        inits.append(init("mean", np.array([0.5, 0.4, 0.3], np.float32).reshape(1, 3, 1, 1)))
        inits.append(init("std", np.array([0.2, 0.25, 0.3], np.float32).reshape(1, 3, 1, 1)))
        nodes[0].input[0] = "xn"
        nodes[:0] = [
            node("Sub", ["x", "mean"], ["xs"], name="norm_sub"),
            node("Div", ["xs", "std"], ["xn"], name="norm_div"),
        ]
    if not nms:  # a classifier-like net: the head's scores are the output
        nodes = [n for n in nodes if n.output[0] in ("xs", "xn", "f0", "f", "s0")]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])]
    if nms_on_input:  # NonZero straight on the graph input: nothing is left for the device
        nodes = [node("NonZero", ["x"], ["nz"], name="nz"), node("Cast", ["nz"], ["det"], to=1)]
    outputs = [helper.make_tensor_value_info("det", TensorProto.FLOAT, ["K", 4])]
    if not nms:
        outputs = [helper.make_tensor_value_info("s0", TensorProto.FLOAT, [1, 2, 4, 4])]
    elif not nms_on_input:
        outputs.append(helper.make_tensor_value_info("sel", TensorProto.INT64, ["K", 3]))
    graph = helper.make_graph(nodes, "det", inputs, outputs, [] if nms_on_input else inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
