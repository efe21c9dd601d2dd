"""Defect `reduce-axes-input`: a reduction given its axes as an input, other than over the
last two axes of a 4-D tensor or over every axis but the first or all (ncnn).

pnnx reads a reduction's axes from the attribute (ReduceSum up to opset 12, the other
reductions up to 17) and drops them when they come as an input (ReduceSum-13, the others from
18, which is what torch's dynamo exporter writes): the result keeps the reduced axes, with no
error. Measured after a Conv on [1, 3, 4, 5] for ReduceMean-18, ReduceSum-13, ReduceL1-18 and
ReduceL2-18, keepdims 0 and 1: axes [1], [3] and [-1] come back unreduced, [2, 3] and
[1, 2, 3] match (pnnx maps them to pooling and a full reduction); the same reductions with the
axes attribute (ReduceMean-13, ReduceSum-11) all match, and so does ReduceProd-18 with every
axes input. ReduceMax-18 and ReduceMin-18 with an axes input do not convert at all (their
profile entry refuses the input). A ReduceL2 inside F.normalize's pattern (its result divides
its own input) matches: pnnx fuses the pattern. Rule ``input-unsupported``; no automatic fix:
exporting at an opset where the axes are an attribute avoids it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import onnx_ir as ir

from nnport.check.defects.repro import Repro, after_anchor
from nnport.model.graphs import constant_tensor

if TYPE_CHECKING:
    from nnport.check.context import Context

# The reductions measured to drop their axes input (ReduceProd reads it right).
DROPPED = frozenset({"ReduceMean", "ReduceSum", "ReduceL1", "ReduceL2"})


def detect(ctx: Context, node: ir.Node, label: str) -> str | None:
    """A Reduce* given a non-empty axes input that is neither the last two axes of a 4-D
    tensor nor every axis (but the first)."""
    if node.op_type not in DROPPED or node.domain not in ("", "ai.onnx"):
        return None
    axes_value = node.inputs[1] if len(node.inputs) > 1 else None
    axes = constant_tensor(axes_value)
    rank = ctx.facts(node.inputs[0]).rank if node.inputs and node.inputs[0] else None
    if axes is None or rank is None or axes.size == 0:
        return None
    if node.op_type == "ReduceL2" and _normalizes(node):
        return None  # pnnx fuses x / max(ReduceL2(x), eps) into F.normalize, axes and all
    picked = sorted({int(a) % rank for a in axes.numpy().reshape(-1)})
    if picked in (list(range(rank)), list(range(1, rank))) or (rank == 4 and picked == [2, 3]):
        return None  # every axis (but the batch): a full reduction; H and W: pooling
    return (
        f"{node.op_type} '{label}' takes its axes {picked} as an input; {ctx.profile.name}'s "
        f"converter reads a reduction's axes only from the attribute and returns the tensor "
        f"unreduced (export at an opset where the axes are an attribute: 17 or lower, 12 for "
        f"ReduceSum)"
    )


def _normalizes(node: ir.Node) -> bool:
    """A ReduceL2 whose result divides its own input, through Clip, Max or Expand (torch's
    F.normalize: measured to match on ncnn at opset 18)."""
    x, frontier = node.inputs[0], list(node.outputs)
    for _ in range(4):
        users = [u for value in frontier for u, _ in value.uses()]
        if any(u.op_type == "Div" and u.inputs[0] is x for u in users):
            return True
        frontier = [out for u in users if u.op_type in ("Clip", "Max", "Expand")
                    for out in u.outputs]  # fmt: skip
    return False


def repro() -> Repro:
    """A 1x1 MaxPool, then ReduceSum-13 over axes [1] given as an input."""
    from onnx import helper

    reduce = helper.make_node("ReduceSum", ["p", "axes"], ["y"], keepdims=1)
    return after_anchor("reduce_axes_input", reduce, [1, 1, 4, 5],
                        {"axes": np.array([1], np.int64)})  # fmt: skip
