"""Render a ``FixResult``: verdict, one row per pass tried, remaining violations, the atc line."""

from __future__ import annotations

import math

from rich.console import Group
from rich.table import Table
from rich.text import Text

from nnport.passes.keep_fp32 import PrecisionReport
from nnport.passes.planner import FixResult
from nnport.passes.split_postprocess import SplitReport


def _error(value: float) -> str:
    if value != value or value == float("inf"):
        return "n/a"
    return "0" if value == 0 else f"{value:.2g}"


def _share(value: float) -> str:
    return "unknown" if value < 0 else f"{100 * value:.1f}%"


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(names[:4]) + (f" (+{len(names) - 4} more)" if len(names) > 4 else "")


def host_parts(split: SplitReport) -> str:
    """'post-processing runs', 'pre-processing runs' or 'pre- and post-processing run'."""
    if split.pre_nodes and split.host_nodes:
        return "pre- and post-processing run"
    return "pre-processing runs" if split.pre_nodes else "post-processing runs"


def _split_facts(facts: Table, split: SplitReport) -> None:
    """What was cut off to the host, how much of the model that is, and the proof."""
    if split.pre_nodes:
        pre = split.pre_output or "(host model, not written)"
        facts.add_row("host pre-processing", Text(pre, style="bold yellow", overflow="fold"))
        facts.add_row(
            "",
            Text(
                f"{split.pre_nodes} node(s) from the inputs to the first Conv/MatMul/Gemm that "
                f"the target lacks; their outputs are the device part's inputs: "
                f"{_names(split.pre_cut)}"
            ),
        )
    if not split.host_nodes:
        return
    host = split.host_output or "(host model, not written)"
    facts.add_row("host post-processing", Text(host, style="bold yellow", overflow="fold"))
    facts.add_row("", Text(split.reason))
    facts.add_row(
        "",
        Text(
            f"host part: {split.host_nodes} node(s), {_share(split.host_node_share)} of the "
            f"nodes, {_share(split.host_mac_share)} of the Conv/MatMul/Gemm MACs; "
            f"device part: {split.device_nodes} node(s)"
        ),
    )
    facts.add_row("", Text(f"device outputs = host inputs: {_names(split.cut)}"))
    facts.add_row("", Text(f"host ops: {', '.join(split.host_ops)}"))


def _sqnr(value: float) -> str:
    return "inf" if value == float("inf") else f"{value:.1f}"


def precision_line(report: PrecisionReport) -> str:
    """One line: the format, native or emulated, the verdict and the verified error."""
    head = f"{report.label}, {report.chosen}: "
    if math.isnan(report.error):
        return head + report.reason
    judged = f"SQNR {_sqnr(report.sqnr_db)} >= {report.min_sqnr_db:g} dB"
    if not report.broke:
        return head + f"matches ({judged}, max error {_error(report.error)})"
    if report.passed:
        runs = f"{report.runs} run(s), budget {report.run_budget}"
        return head + (
            f"breaks (error {_error(report.error_before)}); {len(report.kept)} node(s) kept in "
            f"fp32 match ({judged}, max error {_error(report.error)}; {runs})"
        )
    return head + f"breaks (error {_error(report.error_before)}): {report.reason}"


def precision_facts(facts: Table, report: PrecisionReport) -> None:
    """The precision rows: verdict, overflowing nodes, the keep-set and its file."""
    style = "green" if report.passed else ("red" if report.broke else "yellow")
    facts.add_row("precision", Text(precision_line(report), style=style))
    if report.overflow:
        facts.add_row("overflows", Text(_names(report.overflow)))
    if report.kept:
        facts.add_row("kept in fp32", Text(", ".join(report.kept), overflow="fold"))
    if report.keep_file:
        facts.add_row("keep_dtype", Text(report.keep_file, overflow="fold"))
    elif report.kept and report.passed:
        facts.add_row("", Text(report.reason.split("; ", 1)[-1], style="dim"))


def render_fix(result: FixResult) -> Group:
    """The fix report as rich renderables."""
    label = ""
    if result.precision is not None:
        unverified = math.isnan(result.precision.error) and not result.precision.broke
        label = f" ({result.precision.label}{' not verified' if unverified else ''})"
    if result.deployable and result.verified:
        verdict = Text(f"deployable on {result.target}, outputs verified", style="bold green")
        if result.precision is not None and result.precision.broke:
            verdict = Text(
                f"deployable on {result.target}, outputs verified in fp32; in "
                f"{result.precision.label} "
                + ("repaired with nodes kept in fp32" if result.precision.passed else "it breaks"),
                style="bold green" if result.precision.passed else "bold red",
            )
        else:
            verdict.append(label, style="bold green")
    elif result.deployable:
        verdict = Text(f"deployable on {result.target}, but outputs drifted", style="bold red")
    else:
        verdict = Text(
            f"not deployable on {result.target}: {result.violations_after} violation(s) remain",
            style="bold red",
        )
    split = result.split
    if split is not None:
        verdict.append(f" (device part; {host_parts(split)} on the host)", style="bold yellow")
    facts = Table.grid(padding=(0, 2))
    if result.output:
        facts.add_row(
            "output", Text(result.output + (" (device part)" if split else ""), overflow="fold")
        )
    if split is not None:
        _split_facts(facts, split)
    facts.add_row("violations", f"{result.violations_before} -> {result.violations_after}")
    facts.add_row("opset", f"{result.opset_before} -> {result.opset_after}")
    facts.add_row("nodes", f"{result.nodes_before} -> {result.nodes_after}")
    if result.input_shapes:
        shapes = ", ".join(f"{k}:{'x'.join(map(str, v))}" for k, v in result.input_shapes.items())
        facts.add_row("input shapes", Text(shapes))
    facts.add_row("verification", Text(result.verification))
    if result.gears_note:
        label = "gears" if result.batch_gears or result.image_gears else "gears refused"
        facts.add_row(label, Text(result.gears_note))
    facts.add_row("max error", _error(result.max_error))
    if result.precision is not None:
        precision_facts(facts, result.precision)
    fold = result.qdq_fold
    if fold is not None:
        facts.add_row(
            "folded Q/DQ",
            Text(
                f"{fold.pairs} Q->DQ pair(s) and {fold.weights} quantized constant(s) folded to "
                f"float; vs the quantized model: max abs difference {_error(fold.max_abs)} "
                f"({100 * fold.relative:.2f}% of its largest output), cosine {fold.cosine:.6f} "
                f"on {fold.feeds} feed(s)"
                + (f"; {fold.left} Q/DQ node(s) left" if fold.left else "")
            ),
        )
        for path in (fold.scales_file, fold.table_file):
            if path:
                facts.add_row("scales", Text(path, overflow="fold"))
        if fold.note:
            facts.add_row("", Text(fold.note, style="dim"))
    facts.add_row("time", f"{result.seconds:.2f} s")
    parts: list[object] = [verdict, facts]
    if result.passes:
        table = Table(title="passes", title_justify="left", show_edge=False)
        for col in ("round", "fix", "nodes", "max error", "result"):
            table.add_column(col)
        for record in result.passes:
            status = Text("kept", style="green") if record.kept else Text(record.reason, "yellow")
            table.add_row(
                str(record.round),
                f"{record.fix} ({record.part})" if record.part else record.fix,
                str(record.nodes_rewritten),
                _error(record.max_error),
                status,
            )
            for reason in record.declined[:5]:
                table.add_row("", "", "", "", Text(f"declined {reason}", style="dim"))
        parts.append(table)
    if result.remaining:
        table = Table(title="remaining violations", title_justify="left", show_edge=False)
        for col in ("node", "op", "rule", "why it remains"):
            table.add_column(col)
        for item in result.remaining:
            table.add_row(Text(item.node or "(model)"), item.op, item.rule, Text(item.reason))
        parts.append(table)
    if result.atc_command:
        parts.append(Text("convert with (one line):", style="bold"))
    return Group(*parts)  # type: ignore[arg-type]
