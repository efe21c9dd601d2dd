"""The rules ``check`` applies: per node (op, version, dtypes, attributes, constants, rank, broadcast) and per graph I/O."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
import onnx.defs
import onnx.helper
import onnx_ir as ir

from nnport.targets import fixes
from nnport.targets.constness import Constness
from nnport.targets.infer import TensorFacts
from nnport.targets.profile import OpRule, canonical_domain
from nnport.targets.violations import Violation

if TYPE_CHECKING:
    from nnport.targets.checker import Context

Make = Callable[..., Violation]
_DESCRIBE_LEVEL = {
    Constness.FOLDABLE: "computed from constants and static shapes",
    Constness.SHAPE: "computed from the shape of a tensor whose size is not known statically",
    Constness.RUNTIME: "computed at run time (from input data or a data-dependent shape)",
}


def _dims_text(shape: Sequence[Any] | None) -> str:
    if shape is None:
        return "[?]"
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def _onnx_domain(domain: str) -> str:
    return "" if domain == "ai.onnx" else domain


def _label(node: ir.Node, index: int) -> str:
    return node.name or f"{node.op_type}#{index}"


# ---------------------------------------------------------------------------------------------
# graph inputs and outputs
# ---------------------------------------------------------------------------------------------


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
    text = f"graph input '{value.name}' has dynamic shape {_dims_text(facts.shape)}; {name} needs static shapes"
    variable = set(graph_rules.variable_dims)
    if variable and (kinds <= variable or "any" in variable):
        how = graph_rules.variable_dims_note or "the converter's own options"
        text += f" (these dims can vary only through {how}, each variant a fixed shape)"
    return text + "; give a shape with --input-shape"


def graph_output_violations(ctx: Context) -> list[Violation]:
    """io-dtype for the model's outputs."""
    allowed = ctx.profile.graph.output_dtypes
    found: list[Violation] = []
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


# ---------------------------------------------------------------------------------------------
# nodes
# ---------------------------------------------------------------------------------------------


def node_violations(ctx: Context, node: ir.Node, graph_name: str, index: int) -> list[Violation]:
    """Every violation of ``node``: op support first, then the closest matching op rule, then graph-wide rules."""
    domain = canonical_domain(node.domain)
    op = node.op_type
    label = _label(node, index)
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
        if level == Constness.CONSTANT and op == "Identity":
            level = Constness.FOLDABLE  # a renamed initializer: folding removes the node
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
        if best is None or len(found) < len(best):
            best = found
    best = best or []
    flagged = {v.tensor for v in best if v.tensor}
    return best + _graph_wide(ctx, node, label, make, flagged)


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
                return why
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
    if not _has_function(node.op_type, domain, version):
        return None
    missing = _expansion_problem(ctx, node.op_type, domain, version)
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
    for position in rule.constant_inputs:
        if position >= len(node.inputs):
            continue
        value = node.inputs[position]
        if value is None or not value.name:
            continue
        level = ctx.level(value)
        if level == Constness.CONSTANT:
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
    if rule.max_rank is not None:
        found += _rank_violations(ctx, node, label, rule.max_rank, f"{name}'s {op}", make)
    if rule.broadcast != "any":
        found += _broadcast_violations(ctx, node, label, rule.broadcast, make)
    if rule.integer_scales:
        found += _scale_violations(ctx, node, label, make)
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
        found += _rank_violations(ctx, node, label, graph_rules.max_rank, name, make)
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
                            f"{_dims_text(facts.shape)} that depends on input values; "
                            f"{name} needs static shapes"
                        ),
                        fix=None,
                        tensor=value.name,
                    )
                )
                break
    return found


def _rank_violations(
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


def _broadcast_violations(
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
        bad.append(f"'{value.name}' {_dims_text(shape)}")
    if not bad:
        return []
    need = "equal shapes" if policy == "none" else "equal shapes or a constant per-channel operand"
    return [
        make(
            rule="broadcast-unsupported",
            message=(
                f"{node.op_type} '{label}' broadcasts {', '.join(bad)} to {_dims_text(full)}; "
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


def _scale_violations(ctx: Context, node: ir.Node, label: str, make: Make) -> list[Violation]:
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


_MISSING = object()


def _attribute_value(node: ir.Node, name: str, ctx: Context) -> Any:
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
    if isinstance(value, float) and value.is_integer():
        return value
    return value
