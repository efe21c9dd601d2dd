"""``check``: walk the model in topological order and report every node that breaks the target's profile."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import onnx_ir as ir

from nnport.check import fixes, io_rules, rules
from nnport.check.batch_axis import batch_axis_violations
from nnport.check.batch_size import batch_size_violations
from nnport.check.constness import classify
from nnport.check.context import Context
from nnport.check.defects.registry import defect_violations
from nnport.check.infer import Inference, infer
from nnport.check.quantized import quantized_model
from nnport.check.violations import CheckReport, Violation, group
from nnport.errors import InputSpecError
from nnport.model.specs import graph_inputs
from nnport.targets.profile import TargetProfile, canonical_domain
from nnport.targets.registry import PROFILES_DIR, load_target

logger = logging.getLogger(__name__)


def _opsets(model: ir.Model, profile: TargetProfile) -> tuple[dict[str, int], dict[str, int]]:
    """The model's opset per (canonical) domain, and the version rules are judged at.

    When the model's opset is outside the target's range, rules are judged at the nearest
    accepted version: that is what the model becomes after ``convert-opset``.
    """
    model_opsets: dict[str, int] = {}
    effective: dict[str, int] = {}
    for domain, version in model.opset_imports.items():
        name = canonical_domain(domain)
        model_opsets[name] = version
        accepted = profile.opsets.get(name)
        if accepted is None or version in accepted:
            effective[name] = version
        else:
            effective[name] = accepted.lo if version < accepted.lo else (accepted.hi or version)
    return model_opsets, effective


def _resolve_shapes(
    model: ir.Model, input_shapes: Mapping[str, tuple[int, ...]] | None
) -> dict[str, tuple[int, ...]]:
    shapes = {str(k): tuple(int(d) for d in v) for k, v in (input_shapes or {}).items()}
    names = {v.name for v in graph_inputs(model)}
    for name in shapes:
        if name not in names:
            raise InputSpecError(
                f"the model has no input named {name!r}",
                hint=f"inputs: {', '.join(sorted(n for n in names if n))}",
            )
    return shapes


def _opset_violations(ctx: Context, used: set[str]) -> list[Violation]:
    found = []
    for domain, version in ctx.model_opsets.items():
        accepted = ctx.profile.opsets.get(domain)
        if accepted is None or version in accepted or domain not in used:
            continue
        direction = "newer" if version > (accepted.hi or version) else "older"
        fix = fixes.CONVERT_OPSET if domain == "ai.onnx" else None
        found.append(
            Violation(
                node="",
                op="",
                domain=domain,
                opset=version,
                rule="opset-out-of-range",
                message=(
                    f"the model imports {domain} opset {version}, {direction} than "
                    f"{ctx.profile.name} accepts ({accepted.text()})"
                ),
                fix=fix,
            )
        )
    return found


def _walk(ctx: Context, graph: ir.Graph, graph_name: str) -> Iterator[tuple[ir.Node, str, Context]]:
    """Nodes in topological order; a subgraph's nodes follow the node that owns them."""
    for node in graph:
        yield node, graph_name, ctx
        for attr in node.attributes.values():
            subgraphs: list[ir.Graph] = []
            if attr.type == ir.AttributeType.GRAPH:
                subgraphs = [attr.as_graph()]
            elif attr.type == ir.AttributeType.GRAPHS:
                subgraphs = list(attr.as_graphs())
            for sub in subgraphs:
                inner = Context(
                    ctx.model,
                    ctx.profile,
                    ctx.inference,
                    classify([sub], ctx.inference, ctx.constness),
                    ctx.model_opsets,
                    ctx.effective_opsets,
                    ctx.inputs_static,
                    recheck=ctx.recheck,
                )
                name = f"{graph_name}/{node.name or node.op_type}.{attr.name}"
                yield from _walk(inner, sub, name)


def _used_domains(model: ir.Model) -> set[str]:
    used = {canonical_domain(n.domain) for n in ir.traversal.RecursiveGraphIterator(model.graph)}
    for function in model.functions.values():
        used |= {canonical_domain(n.domain) for n in function}
    return used


def check(
    model: ir.Model,
    target: str | TargetProfile,
    *,
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
) -> CheckReport:
    """Report every node of ``model`` that breaks ``target``'s profile; ``model`` is not modified.

    ``input_shapes`` fixes the shapes of the named graph inputs (on a copy) before inference,
    so shape rules judge the model as it will be converted.
    """
    start = time.perf_counter()
    profile = target if isinstance(target, TargetProfile) else load_target(target)
    shapes = _resolve_shapes(model, input_shapes)
    inference = infer(model, shapes)
    model_opsets, effective = _opsets(model, profile)
    inputs_static = all(inference.get(v).static for v in graph_inputs(model))
    ctx = Context(
        model,
        profile,
        inference,
        classify([model.graph], inference),
        model_opsets,
        effective,
        inputs_static,
        recheck=check,
    )
    violations: list[Violation] = []
    violations += _opset_violations(ctx, _used_domains(model))
    violations += io_rules.graph_input_violations(ctx, shapes)
    local_functions = {(canonical_domain(d), op) for (d, op, _overload) in model.functions}
    index = 0
    for node, graph_name, node_ctx in _walk(ctx, model.graph, ""):
        if (canonical_domain(node.domain), node.op_type) in local_functions:
            continue  # model-local function call: its body is checked below
        ctx.indices[id(node)] = index
        violations += rules.node_violations(node_ctx, node, graph_name, index)
        violations += defect_violations(node_ctx, node, graph_name, index)
        index += 1
    for function in model.functions.values():
        fctx = Context(model, profile, Inference(), {}, model_opsets, effective, recheck=check)
        for node in function:
            violations += rules.node_violations(fctx, node, f"function {function.name}", index)
            index += 1
    violations += io_rules.graph_output_violations(ctx)
    violations += batch_axis_violations(ctx)
    violations += batch_size_violations(ctx)
    violations, quantized_notes = quantized_model(model, profile, violations)
    notes = list(quantized_notes)
    if inference.error:
        notes.append(
            f"shape inference failed, dtype and shape rules used declared types only: "
            f"{inference.error}"
        )
    ordered_fixes = tuple(dict.fromkeys(v.fix for v in violations if v.fix))
    return CheckReport(
        target=profile.name,
        deployable=not violations,
        violations=tuple(violations),
        summary=group(violations),
        model=str(model.meta.get("nnport.source_path", "")),
        target_source=profile.source.text(),
        opsets=model_opsets,
        input_shapes=shapes or None,
        node_count=index,
        fixes=ordered_fixes,
        notes=tuple(notes),
        seconds=round(time.perf_counter() - start, 4),
        target_ref=_target_ref(profile),
        precision=profile.precision.default,
        precision_note=_precision_note(profile),
    )


def _precision_note(profile: TargetProfile) -> str:
    """'fp16 (options: fp32, int8); --precision_mode=force_fp16; source: ...'."""
    precision = profile.precision
    flag = precision.flags.get(precision.default, "")
    source = f"source: {precision.source}" if precision.source else "no [precision] table: fp32"
    return "; ".join(part for part in (precision.text(), flag, source) if part)


def _target_ref(profile: TargetProfile) -> str:
    if not profile.path:
        return profile.name
    path = Path(profile.path)
    return profile.name if path.parent == PROFILES_DIR and path.stem == profile.name else str(path)
