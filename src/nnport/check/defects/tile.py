"""Defect `tile-runtime-repeats`: OpenVINO's CPU plugin returns wrong values, with no error, from a
Tile whose repeats are known only at run time when the input's first axis is above 1 and at
least three other axes have both a size and a repeat above 1.

Measured on OpenVINO 2026.4 over 25 shapes: ``[1, 2, 2, 2]`` on ``[2, 3, 4, 5]`` is wrong,
``[1, 2, 2, 2]`` on ``[1, 3, 4, 5]``, ``[2, 2, 2, 1]``, ``[B, 1, 1, 1]`` and any constant repeats
are right; repeats computed from a dynamic batch size are as wrong as data-dependent ones. The
repeats are read as far as they are known before running: constants, ``Concat`` of constants
and shape slices, ``Expand`` of one value; an entry not known counts as a possible repeat.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import onnx_ir as ir

from nnport.check import fixes
from nnport.check.constness import Constness
from nnport.check.defects.repro import Repro, checked_model
from nnport.model.graphs import constant_tensor

if TYPE_CHECKING:
    from nnport.check.context import Context

_PASS_THROUGH = ("Cast", "Identity")


def known_entries(ctx: Context, value: ir.Value | None, depth: int = 0) -> list[int | None] | None:
    """The entries of a 1-D integer tensor known before running (None where not), or None
    when even its length is unknown. Hand-written: onnx-ir folds whole constants only."""
    if value is None or depth > 16:
        return None
    tensor = constant_tensor(value)
    if tensor is not None:
        return [int(v) for v in tensor.numpy().ravel()]
    node = value.producer()
    if node is not None and node.domain in ("", "ai.onnx"):
        if node.op_type in _PASS_THROUGH:
            return known_entries(ctx, node.inputs[0], depth + 1)
        if node.op_type == "Concat":
            parts = [known_entries(ctx, v, depth + 1) for v in node.inputs]
            if all(p is not None for p in parts):
                return [e for p in parts for e in p]  # type: ignore[union-attr]
        if node.op_type == "Expand" and len(node.inputs) == 2:
            one = known_entries(ctx, node.inputs[0], depth + 1)
            target = constant_tensor(node.inputs[1])
            sizes = target.numpy().ravel() if target is not None else np.zeros(0)
            if one is not None and len(one) == 1 and sizes.size == 1:
                return one * int(sizes[0])
    dims = ctx.facts(value).shape
    if dims is not None and len(dims) == 1 and isinstance(dims[0], int):
        return [None] * dims[0]
    return None


def detect(ctx: Context, node: ir.Node, label: str) -> str | None:
    """A Tile with run-time repeats that may repeat three non-first axes of a batch above 1."""
    if node.op_type != "Tile" or node.domain not in ("", "ai.onnx") or len(node.inputs) < 2:
        return None
    data, repeats = node.inputs[0], node.inputs[1]
    if data is None or repeats is None or not repeats.name:
        return None
    level = ctx.level(repeats)
    if level in (Constness.CONSTANT, Constness.FOLDABLE):
        return None  # the converter sees the values
    shape = ctx.facts(data).shape
    if shape is None or len(shape) < 4 or shape[0] == 1:
        return None
    entries = known_entries(ctx, repeats) or [None] * len(shape)
    if len(entries) != len(shape):
        return None
    axes = [i for i in range(1, len(shape))
            if shape[i] != 1 and (entries[i] is None or entries[i] > 1)]  # type: ignore[operator]  # fmt: skip
    if len(axes) < 3:
        return None
    first = shape[0] if isinstance(shape[0], int) else "not fixed"
    return (
        f"Tile '{label}' may repeat axes {axes} of a tensor whose first axis is {first}, with "
        f"repeats known only at run time; {ctx.profile.name}'s Tile returns wrong values for "
        f"that, with no error"
    )


def fix_for(ctx: Context, node: ir.Node) -> str | None:
    """Repeats computed from shapes become constants once the shapes are fixed and folded."""
    return fixes.for_constness(ctx.level(node.inputs[1]), inputs_static=ctx.inputs_static)  # type: ignore[arg-type]


def repro() -> Repro:
    """A [2, 3, 4, 5] tensor tiled by [1, 2, 2, 2] fed at run time (wrong on OpenVINO)."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Tile", ["x", "r"], ["y"])],
        "tile_runtime_repeats",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4, 5]),
         helper.make_tensor_value_info("r", TensorProto.INT64, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 6, 8, 10])],
    )  # fmt: skip
    model = checked_model(graph, 13)
    x = np.arange(120, dtype=np.float32).reshape(2, 3, 4, 5)
    return Repro(model, {"x": x, "r": np.array([1, 2, 2, 2], np.int64)})
