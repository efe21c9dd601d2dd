"""Defect `dynamic-rank`: nodes whose output rank is known only at run time, which OpenVINO's
CPU plugin refuses ("CPU plug-in doesn't support ReduceSum operation with dynamic rank").

Measured on OpenVINO 2026.4: a reduction given its axes at run time with ``keepdims = 0`` is
refused unless the axes tensor has exactly one element; so is a Squeeze given run-time axes
unless they are one element, and an Unsqueeze given run-time axes at all. Axes that are
constant, or computed from constants and static shapes, are folded by OpenVINO and are fine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import onnx_ir as ir

from nnport.check.constness import Constness
from nnport.check.defects.repro import Repro, checked_model

if TYPE_CHECKING:
    import onnx

    from nnport.check.context import Context

# reductions whose axes are an input (ReduceSum since 13, the others since 18)
REDUCTIONS = frozenset({
    "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean",
    "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare",
})  # fmt: skip


def detect(ctx: Context, node: ir.Node, label: str) -> str | None:
    """Why ``node``'s output rank is known only at run time (the violation's message), or None."""
    why = unknown_rank(ctx, node)
    if why is None:
        return None
    return (
        f"{node.op_type} '{label}' {why}, so its output rank is known only at run time; "
        f"{ctx.profile.name} refuses operations of dynamic rank"
    )


def unknown_rank(ctx: Context, node: ir.Node) -> str | None:
    """Why ``node``'s output rank is known only at run time, or None when it is known."""
    if node.domain not in ("", "ai.onnx") or len(node.inputs) < 2:
        return None
    op, axes = node.op_type, node.inputs[1]
    if op not in REDUCTIONS and op not in ("Squeeze", "Unsqueeze"):
        return None
    if axes is None or not axes.name or ctx.level(axes) != Constness.RUNTIME:
        return None
    version = ctx.effective_opsets.get("ai.onnx", 1)
    if any(r.accepts_version(version) and 1 in r.constant_inputs
           for r in ctx.profile.rules_for(op, "ai.onnx")):  # fmt: skip
        return None  # input-not-constant says so already
    shape = ctx.facts(axes).shape
    count = shape[0] if shape is not None and len(shape) == 1 else None
    many = f"{count} of them" if isinstance(count, int) else "how many is known only at run time"
    if op == "Unsqueeze":
        return f"takes its axes at run time ('{axes.name}')"
    if count == 1:
        return None  # one axis fewer: the rank is known
    if op == "Squeeze":
        return f"takes its axes at run time ('{axes.name}', {many})"
    if node.attributes.get_int("keepdims", 1) != 0:
        return None  # the rank is kept
    return f"takes its axes at run time ('{axes.name}', {many}) with keepdims=0"


def repro() -> Repro:
    """A ReduceSum with two run-time axes and keepdims=0; the control keeps the dims (output
    rank known)."""
    from onnx import TensorProto, helper

    def model(keepdims: int) -> onnx.ModelProto:
        graph = helper.make_graph(
            [helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=keepdims)],
            "dynamic_rank",
            [
                helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4, 5]),
                helper.make_tensor_value_info("axes", TensorProto.INT64, [2]),
            ],
            [
                helper.make_tensor_value_info(
                    "y", TensorProto.FLOAT, ["a", "b", "c"][: 1 + 2 * keepdims]
                )
            ],
        )
        return checked_model(graph, 18)

    feeds = {"x": np.arange(60, dtype=np.float32).reshape(3, 4, 5), "axes": np.array([0, 1])}
    return Repro(model(0), feeds, control=model(1))
