"""Graph-level rules of ``check``: graph input/output dtypes, dynamic input shapes, input rank."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import onnx_ir as ir

from nnport.check import fixes
from nnport.check.infer import TensorFacts
from nnport.check.shape_rules import dims_text
from nnport.check.violations import Violation

if TYPE_CHECKING:
    from nnport.check.context import Context


def _variable_kind(axis: int, rank: int) -> str:
    if axis == 0:
        return "batch"
    if rank == 4 and axis in (2, 3):
        return "image"
    return "other"


def graph_input_violations(ctx: Context, shapes: dict[str, tuple[int, ...]]) -> list[Violation]:
    """io-dtype, dynamic-shape and rank-exceeded for the model's real inputs."""
    graph_rules = ctx.profile.graph
    name = ctx.profile.name
    found = []
    for value in ctx.model.graph.inputs:
        if value.name in ctx.model.graph.initializers:
            continue
        facts = ctx.facts(value)
        make = partial(Violation, node="", op="", domain="", opset=0, tensor=value.name, graph="")
        found += _kind_violations(ctx, value, "input")
        allowed = graph_rules.input_dtypes
        if allowed and facts.dtype != "unknown" and facts.dtype not in allowed:
            found.append(
                make(
                    rule="io-dtype",
                    message=(
                        f"graph input '{value.name}' is {facts.dtype}; {name} accepts "
                        f"{', '.join(allowed)} graph inputs"
                    ),
                    fix=fixes.for_io_dtype(facts.dtype),
                )
            )
        if graph_rules.static_shapes and not facts.static:
            found.append(
                make(
                    rule="dynamic-shape",
                    message=_dynamic_message(ctx, value, facts),
                    fix=fixes.FREEZE_SHAPES,
                )
            )
        rank = facts.rank
        if graph_rules.max_rank is not None and rank is not None and rank > graph_rules.max_rank:
            found.append(
                make(
                    rule="rank-exceeded",
                    message=(
                        f"graph input '{value.name}' has rank {rank}; {name} supports at most "
                        f"rank {graph_rules.max_rank}"
                    ),
                    fix=None,
                )
            )
    return found


def _kind(value: ir.Value) -> str:
    if isinstance(value.type, ir.SequenceType):
        return "sequence"
    if isinstance(value.type, ir.OptionalType):
        return "optional"
    return "tensor"


def _kind_violations(ctx: Context, value: ir.Value, side: str) -> list[Violation]:
    """io-dtype for a sequence or optional graph input/output the profile refuses."""
    kind = _kind(value)
    if kind not in ctx.profile.graph.refused_io_kinds:
        return []
    message = (
        f"graph {side} '{value.name}' is a {kind}; {ctx.profile.name} takes no {kind} "
        f"graph inputs or outputs, only tensors"
    )
    return [Violation(node="", op="", domain="", opset=0, rule="io-dtype", message=message,
                      fix=None, tensor=value.name)]  # fmt: skip


def _dynamic_message(ctx: Context, value: ir.Value, facts: TensorFacts) -> str:
    graph_rules = ctx.profile.graph
    name = ctx.profile.name
    if facts.shape is None:
        return f"graph input '{value.name}' has an unknown shape; {name} needs static shapes"
    kinds = {
        _variable_kind(axis, len(facts.shape))
        for axis, dim in enumerate(facts.shape)
        if not isinstance(dim, int)
    }
    text = f"graph input '{value.name}' has dynamic shape {dims_text(facts.shape)}; {name} needs static shapes"
    variable = set(graph_rules.variable_dims)
    if variable and (kinds <= variable or "any" in variable):
        how = graph_rules.variable_dims_note or "the converter's own options"
        text += f" (these dims can vary only through {how}, each variant a fixed shape)"
    template = "x".join(str(d) if isinstance(d, int) else "N" for d in facts.shape)
    return text + f"; give one with --input-shape {value.name}:{template}"


def graph_output_violations(ctx: Context) -> list[Violation]:
    """io-dtype for the model's outputs (element types and refused sequence/optional kinds)."""
    allowed = ctx.profile.graph.output_dtypes
    found: list[Violation] = []
    for value in ctx.model.graph.outputs:
        found += _kind_violations(ctx, value, "output")
    if not allowed:
        return found
    for value in ctx.model.graph.outputs:
        facts = ctx.facts(value)
        if facts.dtype != "unknown" and facts.dtype not in allowed:
            found.append(
                Violation(
                    node="",
                    op="",
                    domain="",
                    opset=0,
                    rule="io-dtype",
                    message=(
                        f"graph output '{value.name}' is {facts.dtype}; {ctx.profile.name} "
                        f"produces only {', '.join(allowed)} graph outputs"
                    ),
                    fix=fixes.for_io_dtype(facts.dtype),
                    tensor=value.name,
                )
            )
    return found
