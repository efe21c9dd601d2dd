"""Defect `if-empty-constant`: OpenVINO's CPU plugin returns a one-element tensor (uninitialized
memory) from an If whose taken branch outputs a zero-size constant, with no error.

torchvision's detectors guard NMS with ``if boxes.numel() == 0: return empty``, so an image with
no detection comes back with one garbage box. The ``materialize-empty-branch`` pass computes the
empty tensor at run time instead, which OpenVINO gets right.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import onnx_ir as ir

from nnport.check.defects.repro import Repro, checked_model
from nnport.model.graphs import constant_tensor

if TYPE_CHECKING:
    from nnport.check.context import Context

MATERIALIZE_EMPTY_BRANCH = "materialize-empty-branch"


def empty_branch_outputs(node: ir.Node) -> list[tuple[str, int, ir.TensorProtocol]]:
    """(branch attribute, output position, the constant) of each If branch output that is a
    zero-size constant (an initializer or Constant node of the branch, possibly through Identity)."""
    if node.op_type != "If" or node.domain not in ("", "ai.onnx"):
        return []
    found = []
    for attr_name in ("then_branch", "else_branch"):
        attr = node.attributes.get(attr_name)
        if attr is None or attr.type != ir.AttributeType.GRAPH:
            continue
        for position, value in enumerate(attr.as_graph().outputs):
            source: ir.Value | None = value
            while source is not None and _is_identity(source.producer()):
                source = source.producer().inputs[0]  # type: ignore[union-attr]
            tensor = constant_tensor(source)
            if tensor is not None and 0 in tuple(tensor.shape):
                found.append((attr_name, position, tensor))
    return found


def _is_identity(node: ir.Node | None) -> bool:
    return node is not None and node.op_type == "Identity" and node.domain in ("", "ai.onnx")


def detect(ctx: Context, node: ir.Node, label: str) -> str | None:
    """Why ``node`` hits the defect (an If with a zero-size constant branch output), or None."""
    hits = empty_branch_outputs(node)
    if not hits:
        return None
    where = ", ".join(f"{branch} output {pos}" for branch, pos, _ in hits)
    return (
        f"If '{label}' returns a zero-size constant ({where}); {ctx.profile.name}'s If returns "
        f"one element of garbage instead (a detector with no detection reports a box), with no "
        f"error"
    )


def repro() -> Repro:
    """An If whose then branch returns a zero-size constant, taken."""
    from onnx import TensorProto, helper, numpy_helper

    empty = numpy_helper.from_array(np.zeros(0, np.int64))
    then = helper.make_graph(
        [helper.make_node("Constant", [], ["e"], value=empty)],
        "then",
        [],
        [helper.make_tensor_value_info("e", TensorProto.INT64, [0])],
    )
    other = helper.make_graph(
        [helper.make_node("ArgMax", ["x"], ["a"], axis=1, keepdims=0)],
        "else",
        [],
        [helper.make_tensor_value_info("a", TensorProto.INT64, [3])],
    )
    graph = helper.make_graph(
        [helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)],
        "if_empty_constant",
        [
            helper.make_tensor_value_info("c", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.INT64, ["n"])],
    )
    model = checked_model(graph, 13)
    feeds = {"c": np.array(True), "x": np.arange(12, dtype=np.float32).reshape(3, 4)}
    return Repro(model, feeds)
