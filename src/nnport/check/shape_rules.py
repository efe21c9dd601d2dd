"""Shape rules of ``check`` for one node: rank limits, broadcasting policy, whole-number Resize scales."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx_ir as ir

from nnport.check.constness import Constness
from nnport.check.violations import Violation

if TYPE_CHECKING:
    from nnport.check.context import Context

Make = Callable[..., Violation]


def dims_text(shape: Sequence[Any] | None) -> str:
    """'[1,3,?,?]' for a shape with unknown dims."""
    if shape is None:
        return "[?]"
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def rank_violations(
    ctx: Context, node: ir.Node, label: str, limit: int, who: str, make: Make
) -> list[Violation]:
    for value in (*node.inputs, *node.outputs):
        if value is None or not value.name:
            continue
        rank = ctx.facts(value).rank
        if rank is not None and rank > limit:
            return [
                make(
                    rule="rank-exceeded",
                    message=(
                        f"{node.op_type} '{label}' has a rank-{rank} tensor '{value.name}'; "
                        f"{who} supports at most rank {limit}"
                    ),
                    fix=None,
                    tensor=value.name,
                )
            ]
    return []


def broadcast_violations(
    ctx: Context, node: ir.Node, label: str, policy: str, make: Make
) -> list[Violation]:
    values = [v for v in node.inputs if v is not None and v.name]
    shapes = [ctx.facts(v).shape for v in values]
    if len(values) < 2 or any(s is None for s in shapes):
        return []
    full = max(shapes, key=lambda s: len(s or ()))
    assert full is not None
    bad = []
    for value, shape in zip(values, shapes, strict=True):
        assert shape is not None
        if tuple(shape) == tuple(full):
            continue
        if not all(isinstance(d, int) for d in (*shape, *full)):
            continue  # symbolic dims: cannot judge until shapes are frozen
        if policy == "per-channel" and ctx.level(value) <= Constness.FOLDABLE:
            aligned = (1,) * (len(full) - len(shape)) + tuple(shape)
            not_one = [k for k, d in enumerate(aligned) if d != 1]
            if not not_one or (not_one == [1] and len(full) >= 2 and aligned[1] == full[1]):
                continue
        bad.append(f"'{value.name}' {dims_text(shape)}")
    if not bad:
        return []
    need = "equal shapes" if policy == "none" else "equal shapes or a constant per-channel operand"
    return [
        make(
            rule="broadcast-unsupported",
            message=(
                f"{node.op_type} '{label}' broadcasts {', '.join(bad)} to {dims_text(full)}; "
                f"{ctx.profile.name}'s {node.op_type} needs {need}"
            ),
            fix=None,
        )
    ]


def _const_array(value: ir.Value | None) -> np.ndarray | None:
    if value is None or not value.name:
        return None
    tensor = value.const_value
    if tensor is None and value.producer() is not None:
        producer = value.producer()
        assert producer is not None
        if producer.op_type == "Constant" and "value" in producer.attributes:
            tensor = producer.attributes["value"].as_tensor()
    if tensor is None:
        return None
    try:
        return tensor.numpy()
    except Exception:  # unloaded external data and the like
        return None


def scale_violations(ctx: Context, node: ir.Node, label: str, make: Make) -> list[Violation]:
    inputs = list(node.inputs)
    scales: np.ndarray | None = None
    if node.op_type == "Upsample" and "scales" in node.attributes:
        scales = np.asarray(node.attributes["scales"].value, dtype=np.float64)
    elif node.op_type in ("Resize", "Upsample"):
        version = ctx.effective_opsets.get("ai.onnx", 13)
        index = 2 if (node.op_type == "Resize" and version >= 11) else 1
        scales = _const_array(inputs[index]) if len(inputs) > index else None
        if (scales is None or scales.size == 0) and node.op_type == "Resize" and len(inputs) > 3:
            sizes = _const_array(inputs[3])
            shape = ctx.facts(inputs[0]).shape
            if sizes is not None and shape is not None and all(isinstance(d, int) for d in shape):
                dims = np.asarray(shape, dtype=np.float64)
                if sizes.size == dims.size and np.all(dims > 0):
                    scales = sizes.astype(np.float64) / dims
    if scales is None or scales.size == 0:
        return []
    flat = [float(s) for s in np.asarray(scales).reshape(-1)]
    if all(s.is_integer() and s >= 1 for s in flat):
        return []
    return [
        make(
            rule="attribute-unsupported",
            message=(
                f"{node.op_type} '{label}' scales by {flat}; {ctx.profile.name} resizes only by "
                "whole-number factors"
            ),
            fix=None,
        )
    ]
