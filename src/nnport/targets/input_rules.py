"""Rules on the inputs a node gives: ones that must be constant (``constant_inputs``) or hold one
element (``one_element_inputs``), optional ones the target cannot take (``absent_inputs``), and
too few of them (``min_inputs``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import onnx.defs
import onnx_ir as ir

from nnport.targets import fixes
from nnport.targets.constness import Constness
from nnport.targets.probe_schema import schema_of
from nnport.targets.profile import OpRule, canonical_domain
from nnport.targets.shape_rules import Make
from nnport.targets.violations import Violation

if TYPE_CHECKING:
    from nnport.targets.checker import Context

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


def input_violations(
    ctx: Context, node: ir.Node, rule: OpRule, label: str, make: Make
) -> list[Violation]:
    """Inputs that must be constant and are not, optional inputs given that the target cannot
    take, and fewer inputs than the target's op needs."""
    found: list[Violation] = []
    name, op = ctx.profile.name, node.op_type
    note = f" ({rule.note})" if rule.note else ""
    for position in rule.constant_inputs:
        value = node.inputs[position] if position < len(node.inputs) else None
        if value is None or not value.name:
            continue
        level = ctx.level(value)
        if level == Constness.CONSTANT or folded_by_converter(ctx, level):
            continue
        found.append(
            make(
                rule="input-not-constant",
                message=(
                    f"{op} '{label}' input {position} ('{value.name}') is "
                    f"{_DESCRIBE_LEVEL[level]}; {name} needs it as a constant initializer"
                ),
                fix=fixes.for_constness(level, inputs_static=ctx.inputs_static),
                tensor=value.name,
            )
        )
    for position in rule.absent_inputs:
        value = node.inputs[position] if position < len(node.inputs) else None
        if value is not None and value.name:
            found.append(
                make(
                    rule="input-unsupported",
                    message=(
                        f"{op} '{label}' is given its optional input {position} ('{value.name}'); "
                        f"{name}'s {op} fails with that input given{note}"
                    ),
                    fix=None,
                    tensor=value.name,
                )
            )
    for position in rule.one_element_inputs:
        value = node.inputs[position] if position < len(node.inputs) else None
        if value is None or not value.name:
            continue
        dims = [d for d in ctx.facts(value).shape or () if isinstance(d, int)]
        if not ctx.facts(value).static:
            continue
        count = math.prod(dims)
        if count != 1:
            found.append(
                make(
                    rule="input-not-scalar",
                    message=(
                        f"{op} '{label}' input {position} ('{value.name}') holds {count} "
                        f"elements; {name}'s {op} takes one value there (per-tensor, not per "
                        f"channel){note}"
                    ),
                    fix=None,
                    tensor=value.name,
                )
            )
    given = sum(1 for v in node.inputs if v is not None and v.name)
    if given < rule.min_inputs:
        missing = _input_names(node, ctx, given, rule.min_inputs)
        which = f" (it needs {missing})" if missing else ""
        found.append(
            make(
                rule="input-missing",
                message=(
                    f"{op} '{label}' is given {given} input{'s' * (given != 1)}; {name}'s {op} "
                    f"fails with fewer than {rule.min_inputs}{which}{note}"
                ),
                fix=None,
            )
        )
    return found


def _input_names(node: ir.Node, ctx: Context, given: int, wanted: int) -> str:
    """The schema's names of inputs ``given`` to ``wanted - 1`` ('' when the op is variadic)."""
    domain = canonical_domain(node.domain)
    schema = schema_of((domain, node.op_type, ctx.effective_opsets.get(domain, 1)))
    formal = list(schema.inputs) if schema is not None else []
    if not formal or formal[-1].option == onnx.defs.OpSchema.FormalParameterOption.Variadic:
        return ""
    return ", ".join(f"'{p.name}'" for p in formal[given:wanted])
