"""Render a ``CheckReport`` for the terminal: verdict, violations in graph order, grouped summary."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from nnport.check.violations import CheckReport, Violation


def _where(v: Violation) -> str:
    if v.node:
        return v.node if not v.graph else f"{v.graph}/{v.node}"
    if v.tensor:
        return f"{v.tensor} (graph I/O)"
    return "(model)"


def _verdict(report: CheckReport) -> Text:
    name = report.model or "model"
    if report.deployable:
        return Text.assemble(
            (f"{name}: deployable on {report.target}", "bold green"),
            f" ({report.node_count} nodes checked, {report.seconds:.2f} s)",
        )
    count = len(report.violations)
    return Text.assemble(
        (f"{name}: NOT deployable on {report.target}", "bold red"),
        f": {count} violation{'s' if count != 1 else ''} "
        f"({report.node_count} nodes checked, {report.seconds:.2f} s)",
    )


def violations_list(report: CheckReport, *, limit: int = 200) -> Group:
    """One entry per violation, in topological order: location, op, rule, fix, then the reason."""
    lines: list[RenderableType] = []
    width = len(str(min(len(report.violations), limit)))
    for i, v in enumerate(report.violations[:limit], 1):
        op = v.op if v.domain in ("", "ai.onnx") else f"{v.domain}::{v.op}"
        head = Text.assemble(
            (f"{i:>{width}}. ", "dim"),
            (_where(v), "bold"),
            f" {op}" if op else "",
            "  ",
            (v.rule, "yellow"),
            ("  -> " + v.fix, "cyan") if v.fix else ("  (no automatic fix)", "dim"),
        )
        lines.append(head)
        lines.append(Text(" " * (width + 2) + v.message))
    return Group(*lines)


def summary_table(report: CheckReport) -> Table:
    """Repeated violations grouped by rule, op and fix."""
    table = Table(show_edge=False, title="summary", title_justify="left")
    table.add_column("rule", style="yellow")
    table.add_column("op")
    table.add_column("count", justify="right")
    table.add_column("fix", style="cyan")
    table.add_column("where")
    for g in report.summary:
        where = ", ".join(g.nodes)
        if g.count > len(g.nodes):
            where += f", ... (+{g.count - len(g.nodes)})"
        table.add_row(
            Text(g.rule), Text(g.op or "-"), str(g.count), Text(g.fix or "-"), Text(where)
        )
    return table


def render_check(report: CheckReport, *, fix_order: Sequence[str] | None = None) -> RenderableType:
    """The whole ``nnport check`` report; ``fix_order`` is the order ``fix`` would apply the
    passes in (the CLI asks the planner), else the fix ids in graph order."""
    parts: list[RenderableType] = [_verdict(report)]
    parts.append(Text(f"target source: {report.target_source}", style="dim"))
    if report.precision:
        parts.append(
            Text(
                f"precision assumed: {report.precision_note.split('; source: ')[0]} "
                "(the format fix and port verify in)",
                style="dim",
            )
        )
    if report.violations:
        parts += [Text(""), violations_list(report)]
        if len(report.violations) > 200:
            parts.append(Text(f"... {len(report.violations) - 200} more (use --json)"))
        parts += [Text(""), summary_table(report)]
        if report.fixes:
            head = (
                "fix would apply, in this order: " if fix_order else "passes that would fix these: "
            )
            parts += [
                Text(""),
                Text.assemble(head, (", ".join(fix_order or report.fixes), "cyan")),
                Text(
                    f"apply and verify them: nnport fix {report.model or 'MODEL'} "
                    f"--target {report.target_ref or report.target} -o FIXED.onnx",
                    style="dim",
                ),
            ]
        unfixable = sum(1 for v in report.violations if not v.fix)
        if unfixable:
            parts.append(Text(f"{unfixable} violation(s) have no automatic fix", style="dim"))
    for note in report.notes:
        parts.append(Text(f"note: {note}", style="dim"))
    return Group(*parts)
