"""Defect `empty-tensor`: a runtime that cannot hold a tensor with no elements (ncnn).

ncnn's Mat has no zero-length axis: every node-suite case of pnnx's ops with an empty input or
output (42 reductions over an empty set, zero-size splits, a slice past the end, a
ConstantOfShape of shape [0], ...) failed to convert, load or run, or crashed, and none passed
(``benchmarks/results/probe-ncnn.json.gz``). Reported at each node that reads or makes a
tensor whose static shape has an axis of length 0 (rule ``shape-unsupported``), unless the
converter sees its value: an empty constant (a reduction's empty ``axes``) is no tensor at run
time, nor, on a converter that folds constants, one computed from constants.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import onnx_ir as ir

from nnport.check.constness import Constness
from nnport.check.defects.repro import Repro, checked_model
from nnport.check.shape_rules import dims_text

if TYPE_CHECKING:
    from nnport.check.context import Context


def detect(ctx: Context, node: ir.Node, label: str) -> str | None:
    """A node with an input or output whose static shape has an axis of length 0."""
    known = Constness.FOLDABLE if ctx.profile.graph.folds_constants else Constness.CONSTANT
    for value in (*node.inputs, *node.outputs):
        if value is None or ctx.level(value) <= known:
            continue
        shape = ctx.facts(value).shape
        if shape is not None and 0 in shape:
            return (
                f"{node.op_type} '{label}' has tensor '{value.name}' of shape "
                f"{dims_text(shape)}, with no "
                f"elements; {ctx.profile.name} cannot hold an empty tensor"
            )
    return None


def repro() -> Repro:
    """Relu of a [1, 3, 0, 4] tensor; the control: the same on [1, 3, 2, 4]."""
    from onnx import TensorProto, helper

    def relu(shape: list[int]) -> Repro:
        graph = helper.make_graph(
            [helper.make_node("Relu", ["x"], ["y"])], "empty_tensor",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
        )  # fmt: skip
        return Repro(checked_model(graph, 13), {"x": np.ones(shape, dtype=np.float32)})

    empty, control = relu([1, 3, 0, 4]), relu([1, 3, 2, 4])
    return Repro(empty.model, empty.feeds, control.model, control.feeds)
