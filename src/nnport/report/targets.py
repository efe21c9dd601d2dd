"""Render target profiles: the ``nnport targets`` list and one profile for ``targets show``."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from nnport.targets.profile import TargetProfile
from nnport.targets.registry import TargetInfo


def _short(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_targets(infos: list[TargetInfo]) -> Table:
    """One row per shipped profile."""
    table = Table(show_edge=False)
    table.add_column("target", style="bold")
    table.add_column("opsets")
    table.add_column("ops", justify="right")
    table.add_column("date")
    table.add_column("description and source", overflow="fold")
    for info in infos:
        table.add_row(
            info.name,
            info.opsets.replace(", ", "\n"),
            str(info.ops),
            info.date,
            Text.assemble(info.description, "\n", (_short(info.source), "dim")),
        )
    return table


def render_profile(profile: TargetProfile) -> RenderableType:
    """A profile's facts: source, opsets, graph rules, notes, and each op with its limits."""
    facts = Table.grid(padding=(0, 2))
    facts.add_row("target", Text(profile.name, style="bold"))
    facts.add_row("description", Text(profile.description))
    facts.add_row("source", Text(profile.source.text()))
    if profile.source.url:
        facts.add_row("url", profile.source.url)
    facts.add_row("date", profile.date)
    facts.add_row("file", profile.path)
    facts.add_row("opsets", profile.opset_text())
    graph = profile.graph
    facts.add_row("graph inputs", ", ".join(graph.input_dtypes) or "any dtype")
    if graph.output_dtypes:
        facts.add_row("graph outputs", ", ".join(graph.output_dtypes))
    shapes = "static" if graph.static_shapes else "dynamic allowed"
    if graph.variable_dims:
        shapes += f" ({', '.join(graph.variable_dims)} may vary"
        shapes += f" via {graph.variable_dims_note})" if graph.variable_dims_note else ")"
    facts.add_row("shapes", shapes)
    facts.add_row("int64", graph.int64)
    if graph.max_rank is not None:
        facts.add_row("max rank", str(graph.max_rank))
    if graph.tensor_dtypes:
        facts.add_row("tensor dtypes", ", ".join(graph.tensor_dtypes))
    if graph.refused_io_kinds:
        facts.add_row("graph I/O", f"tensors only (no {', '.join(graph.refused_io_kinds)})")
    if graph.batch_anchor_ops:
        facts.add_row("batch axis", "learned from " + ", ".join(graph.batch_anchor_ops))
    if graph.defects:
        facts.add_row("runtime defects", ", ".join(graph.defects))
    if graph.folds_constants:
        facts.add_row("constants", "folded by the converter (shape arithmetic is not checked)")
    facts.add_row("unlisted ops", profile.unlisted_ops)
    if profile.expands_functions:
        facts.add_row("function ops", "expanded by the runtime")
    ops = Table(show_edge=False, title=f"{len(profile.op_names())} ops", title_justify="left")
    ops.add_column("op")
    ops.add_column("versions")
    ops.add_column("limits", overflow="fold")
    for rule in profile.ops:
        limits = []
        for key, table in (("in", rule.input_dtypes), ("out", rule.output_dtypes)):
            for pos, dtypes in table.items():
                limits.append(f"{key}[{pos}]: {','.join(dtypes)}")
        if rule.constant_inputs:
            limits.append(f"constant inputs {list(rule.constant_inputs)}")
        if rule.absent_inputs:
            limits.append(f"inputs not given {list(rule.absent_inputs)}")
        if rule.one_element_inputs:
            limits.append(f"one-element inputs {list(rule.one_element_inputs)}")
        if rule.min_inputs:
            limits.append(f"at least {rule.min_inputs} inputs")
        for name, values in rule.attributes.items():
            limits.append(f"{name} in {list(values)}")
        for name, values in rule.forbidden_attributes.items():
            limits.append(f"{name} not in {list(values)}")
        for combination in rule.forbidden_combinations:
            limits.append("not " + " with ".join(f"{n}={v!r}" for n, v in combination))
        for pos, numbers in rule.input_values.items():
            limits.append(f"in[{pos}] values in {list(numbers)}")
        for src, dst in rule.forbidden_dtype_pairs:
            limits.append(f"not {src} -> {dst}")
        if rule.max_rank is not None:
            limits.append(f"rank <= {rule.max_rank}")
        if rule.broadcast != "any":
            limits.append(f"broadcast: {rule.broadcast}")
        if rule.integer_scales:
            limits.append("whole-number scales")
        if rule.note:
            limits.append(rule.note)
        name = rule.op if rule.domain == "ai.onnx" else f"{rule.domain}::{rule.op}"
        ops.add_row(Text(name), Text(rule.versions_text()), Text("; ".join(limits)))
    parts: list[RenderableType] = [facts]
    if profile.notes:
        parts.append(Text(""))
        parts += [Text(f"- {note}") for note in profile.notes]
    parts += [Text(""), ops]
    return Group(*parts)
