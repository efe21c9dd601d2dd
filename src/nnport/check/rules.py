"""Node rules of ``check``: op and version support, dtypes, attributes, constant inputs, graph-wide limits."""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import TYPE_CHECKING, Any

import onnx
import onnx.defs
import onnx.helper
import onnx_ir as ir

from nnport.check import fixes, input_rules, shape_rules, value_rules
from nnport.check.batch_axis import node_label
from nnport.check.constness import Constness
from nnport.check.function_body import body_problem
from nnport.check.input_rules import folded_by_converter
from nnport.check.shape_rules import Make, dims_text
from nnport.check.violations import Violation
from nnport.targets.profile import MODE_ONLY, OpRule, canonical_domain

if TYPE_CHECKING:
    from nnport.check.context import Context


def _onnx_domain(domain: str) -> str:
    return "" if domain == "ai.onnx" else domain


# ---------------------------------------------------------------------------------------------
# nodes
# ---------------------------------------------------------------------------------------------


def node_violations(ctx: Context, node: ir.Node, graph_name: str, index: int) -> list[Violation]:
    """Every violation of ``node``: op support first, then the closest matching op rule, then graph-wide rules."""
    domain = canonical_domain(node.domain)
    op = node.op_type
    label = node_label(ctx, node, index)
    make = partial(
        Violation,
        node=label,
        op=op,
        domain=domain,
        opset=ctx.model_opsets.get(domain, 0),
        graph=graph_name,
        index=index,
    )
    if domain == "ai.onnx" and op == "Constant":
        return []  # every converter turns Constant into a weight
    if domain == "ai.onnx" and op == "Identity" and _output_level(ctx, node) == Constness.CONSTANT:
        return []  # an alias of an initializer (exporters share weights this way): a weight too
    if folded_by_converter(ctx, _output_level(ctx, node)):
        return []  # the converter folds it (shape arithmetic on static shapes) into a weight
    version = ctx.effective_opsets.get(domain, 1)
    profile = ctx.profile
    op_rules = profile.rules_for(op, domain)
    if not op_rules:
        if profile.unlisted_ops == "supported":
            return _graph_wide(ctx, node, label, make, set())
        expanded = _expanded(ctx, node, label, make, domain, version)
        if expanded is not None:
            return expanded
        where = "" if domain == "ai.onnx" else f" (domain {domain})"
        message = f"{op} '{label}'{where}: {profile.name} does not support {op}"
        fix = fixes.for_op(op)
        level = _output_level(ctx, node)
        if fix is None and level in (Constness.FOLDABLE, Constness.SHAPE):
            fix = fixes.for_constness(level, inputs_static=ctx.inputs_static)
            message += (
                "; it only computes a constant, so folding removes it"
                if level == Constness.FOLDABLE
                else "; it only computes from tensor shapes, so fixing and folding them removes it"
            )
        return [make(rule="op-unsupported", message=message, fix=fix)]
    matching = [r for r in op_rules if r.accepts_version(version)]
    if not matching:
        expanded = _expanded(ctx, node, label, make, domain, version)
        if expanded is not None:
            return expanded
    if not matching:
        ranges = ", ".join(dict.fromkeys(r.versions_text() for r in op_rules))
        accepted = profile.opsets.get(domain)
        convertible = accepted is not None and any(
            any(v in accepted for v in _range_points(r)) for r in op_rules
        )
        return [
            make(
                rule="op-unsupported",
                message=(
                    f"{op} '{label}' at opset {version}: {profile.name} supports {op} only at "
                    f"opsets {ranges}"
                ),
                fix=fixes.CONVERT_OPSET
                if convertible and domain == "ai.onnx"
                else fixes.for_op(op),
            )
        ]
    best: list[Violation] | None = None
    for rule in matching:
        found = _rule_violations(ctx, node, rule, label, make)
        if not found:
            best = []
            break
        if best is None or _closeness(found) < _closeness(best):
            best = found
    best = best or []
    if any(v.rule == "dtype-unsupported" for v in best):
        # A runtime that expands function bodies does so too when no kernel takes the node's
        # types (ONNX Runtime runs bfloat16 Range through Range's body, for example).
        expanded = _expanded(ctx, node, label, make, domain, version)
        if expanded is not None and not any(v.rule == "op-unsupported" for v in expanded):
            return expanded
    flagged = {v.tensor for v in best if v.tensor}
    return _when_folded(ctx, node, best + _graph_wide(ctx, node, label, make, flagged))


def _closeness(found: list[Violation]) -> tuple[int, int]:
    """How far an op rule is from accepting a node: fewer violations first, then fewer dtype
    ones (among entries split by input dtype, the entry for the node's dtype says why)."""
    return len(found), sum(v.rule == "dtype-unsupported" for v in found)


def _when_folded(ctx: Context, node: ir.Node, found: list[Violation]) -> list[Violation]:
    """A node that only computes constants (shape arithmetic) disappears when folded: say so."""
    level = _output_level(ctx, node)
    if not found or level not in (Constness.FOLDABLE, Constness.SHAPE):
        return found
    fix = fixes.for_constness(level, inputs_static=ctx.inputs_static)
    why = (
        "the node only computes a constant, so folding removes it"
        if fix == fixes.FOLD_CONSTANTS
        else "the node only computes from tensor shapes, so fixing them and folding removes it"
    )
    return [
        dataclasses.replace(
            v,
            fix=fix,
            message=f"{v.message}; {why}",
        )
        if v.rule != "input-not-constant"
        else v
        for v in found
    ]


def _output_level(ctx: Context, node: ir.Node) -> Constness:
    levels = [ctx.level(v) for v in node.outputs if v.name]
    return max(levels) if levels else Constness.RUNTIME


def _range_points(rule: OpRule) -> list[int]:
    points = []
    for r in rule.versions:
        points += [r.lo, r.hi if r.hi is not None else r.lo]
    return points


def _has_function(op: str, domain: str, version: int) -> bool:
    try:
        schema = onnx.defs.get_schema(
            op, max_inclusive_version=version, domain=_onnx_domain(domain)
        )
    except onnx.defs.SchemaError:
        return False
    return bool(
        getattr(schema, "has_function", False)
        or getattr(schema, "has_context_dependent_function", False)
    )


def _expansion_problem(ctx: Context, op: str, domain: str, version: int, depth: int = 0) -> str:
    """Why the runtime cannot expand ``op``'s ONNX function body ('' when it can, or cannot tell).

    Only plain function bodies are followed (context-dependent ones need the node's types).
    """
    if depth > 3:
        return ""
    try:
        schema = onnx.defs.get_schema(
            op, max_inclusive_version=version, domain=_onnx_domain(domain)
        )
    except onnx.defs.SchemaError:
        return ""
    if not getattr(schema, "has_function", False):
        return ""
    body = schema.function_body
    opsets = {canonical_domain(i.domain): i.version for i in body.opset_import}
    for inner in body.node:
        inner_domain = canonical_domain(inner.domain)
        inner_version = opsets.get(inner_domain, version)
        if inner_domain == "ai.onnx" and inner.op_type == "Constant":
            continue
        rules = ctx.profile.rules_for(inner.op_type, inner_domain)
        if any(r.accepts_version(inner_version) for r in rules):
            continue
        if _has_function(inner.op_type, inner_domain, inner_version):
            why = _expansion_problem(ctx, inner.op_type, inner_domain, inner_version, depth + 1)
            if why:
                return f"{inner.op_type} (whose body uses {why})"
            continue
        return f"{inner.op_type} (opset {inner_version})"
    return ""


def _expanded(
    ctx: Context, node: ir.Node, label: str, make: Make, domain: str, version: int
) -> list[Violation] | None:
    """Violations when the runtime expands ``node``'s function body; None if it cannot expand it."""
    profile = ctx.profile
    if not profile.expands_functions or domain not in profile.opsets:
        return None
    if domain == "ai.onnx" and not profile.expands(node.op_type, version):
        return None
    if not _has_function(node.op_type, domain, version):
        return None
    missing = _expansion_problem(ctx, node.op_type, domain, version) or body_problem(
        ctx, node, version
    )
    if missing:
        return [
            make(
                rule="op-unsupported",
                message=(
                    f"{node.op_type} '{label}': {profile.name} has no kernel for it and its "
                    f"ONNX function body uses {missing}, which {profile.name} does not support"
                ),
                fix=fixes.for_op(node.op_type),
            )
        ]
    return _graph_wide(ctx, node, label, make, set())


def _rule_violations(
    ctx: Context, node: ir.Node, rule: OpRule, label: str, make: Make
) -> list[Violation]:
    found: list[Violation] = []
    name = ctx.profile.name
    op = node.op_type
    note = f" ({rule.note})" if rule.note else ""
    for kind, values, table in (
        ("input", node.inputs, rule.input_dtypes),
        ("output", node.outputs, rule.output_dtypes),
    ):
        if not table:
            continue
        for position, value in enumerate(values):
            if value is None or not value.name:
                continue
            allowed = OpRule.dtypes_at(table, position)
            dtype = ctx.facts(value).dtype
            if allowed is None or dtype == "unknown" or dtype in allowed:
                continue
            if kind == "output":
                message = (
                    f"{op} '{label}' outputs {dtype}; {name}'s {op} cannot output {dtype} "
                    f"(it can output {', '.join(allowed)})"
                )
            else:
                message = (
                    f"{op} '{label}' input {position} ('{value.name}') is {dtype}; {name}'s {op} "
                    f"accepts {', '.join(allowed)} there"
                )
            found.append(
                make(
                    rule="dtype-unsupported",
                    message=message + note,
                    fix=fixes.for_dtype(dtype, allowed),
                    tensor=value.name,
                )
            )
    pair = tuple(ctx.facts(v[0]).dtype if v and v[0] is not None else "unknown"
                 for v in (node.inputs, node.outputs))  # fmt: skip
    if pair in rule.forbidden_dtype_pairs:
        found.append(
            make(
                rule="dtype-unsupported",
                message=(
                    f"{op} '{label}' turns {pair[0]} into {pair[1]}; {name}'s {op} fails on "
                    f"that combination{note}"
                ),
                fix=fixes.for_dtype(pair[1], ()),
                tensor=node.outputs[0].name,
            )
        )
    for attr_name, allowed_values in rule.attributes.items():
        value = _attribute_value(node, attr_name, ctx)
        if value is _MISSING or _normalize(value) in [_normalize(a) for a in allowed_values]:
            continue
        shown = ", ".join(repr(_normalize(a)) for a in allowed_values)
        found.append(
            make(
                rule="attribute-unsupported",
                message=(
                    f"{op} '{label}' has {attr_name}={_normalize(value)!r}; {name}'s {op} "
                    f"allows {attr_name} in {shown}{note}"
                ),
                fix=None,
            )
        )
    for attr_name in rule.required_attributes:
        if attr_name not in node.attributes:
            found.append(
                make(
                    rule="attribute-unsupported",
                    message=(
                        f"{op} '{label}' does not set {attr_name}; {name}'s {op} needs it set "
                        f"(its ONNX default is not taken){note}"
                    ),
                    fix=fixes.REQUIRED_ATTRIBUTES.get((op, attr_name)),
                )
            )
    for attr_name, refused in rule.forbidden_attributes.items():
        value = _attribute_value(node, attr_name, ctx)
        anything = "*" in refused  # the attribute set at all, with any value
        if value is _MISSING or (
            not anything and _normalize(value) not in map(_normalize, refused)
        ):
            continue
        found.append(
            make(
                rule="attribute-unsupported",
                message=(
                    f"{op} '{label}' has {attr_name}={_normalize(value)!r}; {name}'s {op} "
                    f"fails with {f'{attr_name} set at all' if anything else 'that value'}{note}"
                ),
                fix=None,
            )
        )
    for combination in rule.forbidden_combinations:
        values = [_attribute_value(node, n, ctx) for n, _ in combination]
        if all(v is not _MISSING and _normalize(v) == _normalize(want)
               for v, (_, want) in zip(values, combination, strict=True)):  # fmt: skip
            shown = " with ".join(f"{n}={_normalize(v)!r}" for n, v in combination)
            found.append(make(rule="attribute-unsupported", fix=None, message=(
                f"{op} '{label}' has {shown}; {name}'s {op} fails with these values together "
                f"(each is allowed on its own){note}")))  # fmt: skip
    found += input_rules.input_violations(ctx, node, rule, label, make)
    found += value_rules.value_violations(ctx, node, rule, label, make)
    if rule.max_rank is not None:
        found += shape_rules.rank_violations(
            ctx, node, label, rule.max_rank, f"{name}'s {op}", make
        )
    if rule.broadcast != "any":
        found += shape_rules.broadcast_violations(ctx, node, label, rule.broadcast, make)
    if rule.integer_scales:
        found += shape_rules.scale_violations(ctx, node, label, make)
    return found


def _graph_wide(
    ctx: Context, node: ir.Node, label: str, make: Make, flagged: set[str]
) -> list[Violation]:
    """tensor_dtypes, int64 policy, graph max_rank and data-dependent shapes on the node's outputs."""
    graph_rules = ctx.profile.graph
    name = ctx.profile.name
    found: list[Violation] = []
    op = node.op_type
    for value in node.outputs:
        if not value.name or value.name in flagged:
            continue
        facts = ctx.facts(value)
        level = ctx.level(value)
        computed = level == Constness.RUNTIME or (
            level == Constness.SHAPE and not graph_rules.static_shapes
        )
        allowed = graph_rules.tensor_dtypes
        if computed and allowed and facts.dtype != "unknown" and facts.dtype not in allowed:
            found.append(
                make(
                    rule="dtype-unsupported",
                    message=(
                        f"{op} '{label}' produces {facts.dtype} tensor '{value.name}'; {name} "
                        f"computes only {', '.join(allowed)}"
                    ),
                    fix=fixes.for_dtype(facts.dtype, allowed),
                    tensor=value.name,
                )
            )
        elif computed and graph_rules.int64 != "native" and facts.dtype == "int64":
            found.append(
                make(
                    rule="dtype-unsupported",
                    message=(
                        f"{op} '{label}' computes int64 tensor '{value.name}' at run time; "
                        f"{name} allows int64 only in constants"
                    ),
                    fix=fixes.RETYPE_INT64,
                    tensor=value.name,
                )
            )
    if graph_rules.max_rank is not None:
        found += shape_rules.rank_violations(ctx, node, label, graph_rules.max_rank, name, make)
    if graph_rules.static_shapes:
        present = [v for v in node.inputs if v is not None and v.name]
        # An output is data-dependent only when every input is static and no input is a
        # foldable shape-like tensor (folding would make the output static).
        inputs_static = all(ctx.facts(v).static for v in present) and not any(
            ctx.level(v) in (Constness.FOLDABLE, Constness.SHAPE) for v in present
        )
        for value in node.outputs:
            facts = ctx.facts(value)
            if value.name and inputs_static and facts.shape is not None and not facts.static:
                found.append(
                    make(
                        rule="dynamic-shape",
                        message=(
                            f"{op} '{label}' output '{value.name}' has shape "
                            f"{dims_text(facts.shape)} that depends on input values; "
                            f"{name} needs static shapes"
                        ),
                        fix=None,
                        tensor=value.name,
                    )
                )
                break
    return found


_MISSING = object()


def _attribute_value(node: ir.Node, name: str, ctx: Context) -> Any:
    only_in = MODE_ONLY.get((node.op_type, name))
    if only_in is not None and _normalize(_attribute_value(node, "mode", ctx)) != only_in:
        return _MISSING
    attr = node.attributes.get(name)
    if attr is not None:
        value = attr.value
        return value
    if node.op_type == "Transpose" and name == "perm":
        rank = ctx.facts(node.inputs[0] if node.inputs else None).rank
        return list(reversed(range(rank))) if rank is not None else _MISSING
    version = ctx.effective_opsets.get(canonical_domain(node.domain), 1)
    try:
        schema = onnx.defs.get_schema(
            node.op_type,
            max_inclusive_version=version,
            domain=_onnx_domain(canonical_domain(node.domain)),
        )
    except onnx.defs.SchemaError:
        return _MISSING
    spec = schema.attributes.get(name)
    if spec is None or not spec.default_value.name:
        return _MISSING
    return onnx.helper.get_attribute_value(spec.default_value)


def _normalize(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (tuple, list)):
        return [_normalize(v) for v in value]
    return value
