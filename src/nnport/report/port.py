"""Render a ``PortResult`` in the terminal: one line per stage, then the verdict and next step."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from nnport.pipeline import PortResult
from nnport.report.check import summary_table

_STYLE = {"ok": "green", "failed": "red", "skipped": "dim"}


def _precision_words(result: PortResult) -> str:
    """'; verified in fp16 (emulated), the target's default[, N node(s) kept in fp32]'."""
    report = result.fix.precision
    if report is None:
        return ""
    if report.error != report.error:  # not verified
        return f"; {report.label}: {report.reason}"
    where = "the target's default" if report.chosen.startswith("target default") else report.chosen
    kept = f", {len(report.kept)} node(s) kept in fp32" if report.kept else ""
    if report.passed:
        return f"; verified in {report.label} ({where}{kept}), max error {report.error:.2g}"
    return f"; in {report.label} ({where}) it breaks: {report.reason}"


def _verdict(result: PortResult) -> Text:
    verdict = _verdict_text(result)
    verdict.append(_precision_words(result))
    return verdict


def _verdict_text(result: PortResult) -> Text:
    if result.ok and result.fix.split is not None:
        return Text(
            f"READY: the device part is deployable on {result.target}; every rewrite verified, "
            f"and {result.fix.split.verification.split('; ', 1)[-1]}",
            style="bold green",
        )
    if result.ok:
        return Text(
            f"READY: deployable on {result.target}; every rewrite verified and outputs match "
            "the original",
            style="bold green",
        )
    if not result.deployable:
        left = len(result.check_after.violations)
        return Text(
            f"NOT READY: {left} violation(s) remain on {result.target} (see above)",
            style="bold red",
        )
    failed = [stage.name for stage in result.stages if stage.status == "failed"]
    if failed:
        return Text(
            f"NOT READY: the check passes, but {', '.join(failed)} failed (see above)",
            style="bold red",
        )
    return Text("NOT READY: outputs differ from the original (see compare)", style="bold red")


def render_port(result: PortResult) -> RenderableType:
    """The whole job on one screen."""
    stages = Table(
        title=f"{result.model} -> {result.target}", title_justify="left", show_edge=False
    )
    for col in ("stage", "result", "time", "detail"):
        stages.add_column(col)
    for stage in result.stages:
        stages.add_row(
            Text(stage.name),
            Text(stage.status, style=_STYLE.get(stage.status, "")),
            f"{stage.seconds:.2f} s",
            Text(stage.detail),
        )
    parts: list[RenderableType] = [stages, Text("")]
    if result.check_before.violations:
        parts += [Text("before fixing:", style="bold"), summary_table(result.check_before)]
    if result.fix.passes:
        passes = Table(title="rewrites", title_justify="left", show_edge=False)
        for col in ("fix", "nodes", "max error", "result"):
            passes.add_column(col)
        for record in result.fix.passes:
            status = Text("kept", "green") if record.kept else Text(record.reason, "yellow")
            passes.add_row(
                record.fix, str(record.nodes_rewritten), f"{record.max_error:.2g}", status
            )
        parts += [Text(""), passes]
    if result.check_after.violations:
        parts += [Text(""), Text("still failing:", style="bold"), summary_table(result.check_after)]
    if result.compares:
        labels = ", ".join(dict.fromkeys(c.precision_label for c in result.compares))
        title = f"fixed model vs original, {labels}" + (
            " (device part)" if result.fix.split else ""
        )
        table = Table(title=title, title_justify="left", show_edge=False)
        for col in ("backend", "output", "max abs err", "cosine", "result"):
            table.add_column(col)
        for comparison in result.compares:
            for metrics in comparison.outputs:
                table.add_row(
                    comparison.candidate.backend,
                    Text(metrics.name),
                    f"{metrics.max_abs_err:.3g}",
                    f"{metrics.cosine:.6f}" if metrics.cosine == metrics.cosine else "n/a",
                    Text("pass", "green") if metrics.passed else Text("FAIL", "red"),
                )
        parts += [Text(""), table]
    for conversion in result.conversions:
        if conversion.layers:  # caffe: which ONNX node became which Caffe layers
            table = Table(title=f"ONNX node -> Caffe layers ({conversion.artifact})",
                          title_justify="left", show_edge=False)  # fmt: skip
            for col in ("ONNX node", "op", "Caffe layers"):
                table.add_column(col)
            for row in conversion.layers:
                made = ", ".join(f"{n} ({t})" for n, t in zip(row.layers, row.types, strict=True))
                table.add_row(Text(row.node), row.op, Text(made or "(no layer: an alias)"))
            parts += [Text(""), table, *(Text(f"note: {n}", "yellow") for n in conversion.notes)]
    if result.bench is not None:
        table = Table(title="speed (fixed model)", title_justify="left", show_edge=False)
        for col in ("backend", "p50 ms", "p90 ms", "throughput/s"):
            table.add_column(col)
        for timing in result.bench.timings:
            if timing.error:
                table.add_row(timing.backend, "-", "-", Text(timing.error, "red"))
            else:
                table.add_row(
                    timing.backend,
                    f"{timing.p50_ms:.3f}",
                    f"{timing.p90_ms:.3f}",
                    f"{timing.throughput:.1f}",
                )
        parts += [Text(""), table]
    parts += [Text(""), _verdict(result), Text(f"fixed model: {result.output}")]
    if result.interface:
        parts.append(Text("its interface changed (callers must follow):", style="yellow"))
        parts += [Text(f"  {line}", style="yellow") for line in result.interface]
    report = result.fix.precision
    if report is not None and report.kept:
        where = report.keep_file or "(the converter takes no list: reported only)"
        parts.append(Text(f"kept in fp32 ({where}): {', '.join(report.kept)}", style="yellow"))
    split = result.fix.split
    if split is not None and split.pre_nodes:
        parts.append(
            Text(
                f"pre-processing runs on the host: {result.pre_output or '(not written)'} "
                f"({split.pre_nodes} node(s) before the first Conv/MatMul); its outputs "
                f"{', '.join(split.pre_cut)} are the device part's inputs",
                style="yellow",
            )
        )
    if split is not None and split.host_nodes:
        share = "unknown" if split.host_mac_share < 0 else f"{100 * split.host_mac_share:.1f}%"
        parts.append(
            Text(
                f"post-processing runs on the host: {result.host_output or '(not written)'} "
                f"({split.host_nodes} node(s), {100 * split.host_node_share:.1f}% of the nodes, "
                f"{share} of the MACs; {split.reason}); the fixed model is the device part, "
                f"its outputs {', '.join(split.cut[:4])}"
                + (f" (+{len(split.cut) - 4} more)" if len(split.cut) > 4 else "")
                + " feed the host part",
                style="yellow",
            )
        )
    return Group(*parts)
