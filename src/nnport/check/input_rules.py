"""Rules on the inputs a node gives: ones that must be constant (``constant_inputs``) or hold one
element (``one_element_inputs``), optional ones the target cannot take (``absent_inputs``), and
too few or too many of them (``min_inputs``, ``max_inputs``); and optional outputs it cannot
produce (``absent_outputs``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import onnx.defs
import onnx_ir as ir

from nnport.check import fixes
from nnport.check.constness import Constness
from nnport.check.shape_rules import Make
from nnport.check.violations import Violation
from nnport.model.schema import schema_of
from nnport.targets.profile import OpRule, canonical_domain

if TYPE_CHECKING:
    from nnport.check.context import Context

_DESCRIBE_LEVEL = {
    Constness.FOLDABLE: "computed from constants and static shapes",
    Constness.SHAPE: "computed from the shape of a tensor whose size is not known statically",
    Constness.RUNTIME: "computed at run time (from input data or a data-dependent shape)",
}


def folded_by_converter(ctx: Context, level: Constness) -> bool:
    """The profile's converter folds constant subgraphs itself: a value computed from constants
    and shapes is a weight to it once every graph input has a static shape (pnnx infers every
    intermediate shape for the given input shapes, also where our inference left one open)."""
    if not ctx.profile.graph.folds_constants:
        return False
    return level == Constness.FOLDABLE or (level == Constness.SHAPE and ctx.inputs_static)


def converter_sees(ctx: Context, value: ir.Value) -> bool:
    """The converter has ``value`` as a weight: a constant, or computed from constants and
    shapes it folds itself (``folded_by_converter``)."""
    level = ctx.level(value)
    return level == Constness.CONSTANT or folded_by_converter(ctx, level)


def input_violations(
    ctx: Context, node: ir.Node, rule: OpRule, label: str, make: Make
) -> list[Violation]:
    """Inputs that must be constant and are not, or must hold one element and hold more,
    optional inputs given that the target cannot take, and fewer inputs than it needs."""
    note = f" ({rule.note})" if rule.note else ""
    found: list[Violation] = []
    checks = (_not_constant, _absent, _absent_output, _not_one_element, _too_few, _too_many)
    for check_inputs in checks:
        found += check_inputs(ctx, node, rule, f"{node.op_type} '{label}'", note, make)
    return found


def _given(values: Sequence[ir.Value | None], position: int) -> ir.Value | None:
    """The input (or output) at ``position`` when the node gives it (named), else None."""
    value = values[position] if position < len(values) else None
    return value if value is not None and value.name else None


def _not_constant(
    ctx: Context, node: ir.Node, rule: OpRule, who: str, note: str, make: Make
) -> list[Violation]:
    found = []
    for position in rule.constant_inputs:
        value = _given(node.inputs, position)
        if value is None:
            continue
        if converter_sees(ctx, value):
            continue
        level = ctx.level(value)
        message = (
            f"{who} input {position} ('{value.name}') is {_DESCRIBE_LEVEL[level]}; "
            f"{ctx.profile.name} needs it as a constant initializer"
        )
        fix = fixes.for_constness(level, inputs_static=ctx.inputs_static)
        found.append(make(rule="input-not-constant", message=message, fix=fix, tensor=value.name))
    return found


def _absent(
    ctx: Context, node: ir.Node, rule: OpRule, who: str, note: str, make: Make
) -> list[Violation]:
    said = f"{ctx.profile.name}'s {node.op_type} fails with that input given{note}"
    return _given_anyway(rule.absent_inputs, node.inputs, "input-unsupported", make,
                         f"{who} is given its optional input", said)  # fmt: skip


def _absent_output(
    ctx: Context, node: ir.Node, rule: OpRule, who: str, note: str, make: Make
) -> list[Violation]:
    said = f"{ctx.profile.name}'s {node.op_type} cannot produce it{note}"
    return _given_anyway(rule.absent_outputs, node.outputs, "output-unsupported", make,
                         f"{who} asks for its optional output", said)  # fmt: skip


def _given_anyway(
    positions: Sequence[int], values: Sequence[ir.Value | None], rule: str, make: Make,
    lead: str, said: str,
) -> list[Violation]:  # fmt: skip
    """One violation per optional position (input or output) the node gives although the
    target cannot take it: "<lead> <position> ('<name>'); <said>"."""
    found = []
    for position in positions:
        value = _given(values, position)
        if value is not None:
            message = f"{lead} {position} ('{value.name}'); {said}"
            found.append(make(rule=rule, message=message, fix=None, tensor=value.name))
    return found


def _not_one_element(
    ctx: Context, node: ir.Node, rule: OpRule, who: str, note: str, make: Make
) -> list[Violation]:
    found = []
    for position in rule.one_element_inputs:
        value = _given(node.inputs, position)
        if value is None or not ctx.facts(value).static:
            continue
        count = math.prod(d for d in ctx.facts(value).shape or () if isinstance(d, int))
        if count != 1:
            message = (
                f"{who} input {position} ('{value.name}') holds {count} elements; "
                f"{ctx.profile.name}'s {node.op_type} takes one value there (per-tensor, not per "
                f"channel){note}"
            )
            found.append(make(rule="input-not-scalar", message=message, fix=None,
                              tensor=value.name))  # fmt: skip
    return found


def _too_few(
    ctx: Context, node: ir.Node, rule: OpRule, who: str, note: str, make: Make
) -> list[Violation]:
    given = sum(1 for v in node.inputs if v is not None and v.name)
    if given >= rule.min_inputs:
        return []
    missing = _input_names(node, ctx, given, rule.min_inputs)
    which = f" (it needs {missing})" if missing else ""
    message = (
        f"{who} is given {given} input{'s' * (given != 1)}; {ctx.profile.name}'s "
        f"{node.op_type} fails with fewer than {rule.min_inputs}{which}{note}"
    )
    return [make(rule="input-missing", message=message, fix=None)]


def _too_many(
    ctx: Context, node: ir.Node, rule: OpRule, who: str, note: str, make: Make
) -> list[Violation]:
    given = sum(1 for v in node.inputs if v is not None and v.name)
    if rule.max_inputs is None or given <= rule.max_inputs:
        return []
    message = (
        f"{who} is given {given} inputs; {ctx.profile.name}'s {node.op_type} fails with more "
        f"than {rule.max_inputs}{note}"
    )
    return [make(rule="input-unsupported", message=message, fix=None)]


def _input_names(node: ir.Node, ctx: Context, given: int, wanted: int) -> str:
    """The schema's names of inputs ``given`` to ``wanted - 1`` ('' when the op is variadic)."""
    domain = canonical_domain(node.domain)
    schema = schema_of((domain, node.op_type, ctx.effective_opsets.get(domain, 1)))
    formal = list(schema.inputs) if schema is not None else []
    if not formal or formal[-1].option == onnx.defs.OpSchema.FormalParameterOption.Variadic:
        return ""
    return ", ".join(f"'{p.name}'" for p in formal[given:wanted])
