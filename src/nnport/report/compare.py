"""Render a CompareResult (and its bisect) as rich tables."""

from __future__ import annotations

import math
from collections.abc import Callable

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from nnport.verify.bisect import BisectResult
from nnport.verify.compare import CompareResult, RunnerInfo
from nnport.verify.metrics import TensorMetrics, percent
from nnport.verify.ranges import RangeScan


def _num(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.3g}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _config(info: RunnerInfo) -> str:
    keys = [k for k in info.config if k != "runtime"]
    details = ", ".join(f"{k}={info.config[k]}" for k in keys)
    runtime = info.config.get("runtime", info.backend)
    return f"{info.backend} ({runtime}{'; ' + details if details else ''})"


def _verdict(ok: bool) -> Text:
    return Text("ok", style="green") if ok else Text("MISMATCH", style="bold red")


def _outputs_table(outputs: tuple[TensorMetrics, ...]) -> Table:
    """One column per output, one row per metric (fits a terminal for a handful of outputs)."""
    table = Table(title="outputs", title_justify="left", show_edge=False)
    table.add_column("metric")
    for m in outputs:
        table.add_column(m.name, justify="right", overflow="fold")

    def row(label: str, cells: list[str | Text]) -> None:
        table.add_row(label, *cells)

    def metric(fn: Callable[[TensorMetrics], str]) -> list[str | Text]:
        return ["-" if m.shape_mismatch else fn(m) for m in outputs]

    row("shape", [m.shape_mismatch or ("x".join(map(str, m.shape)) or "scalar") for m in outputs])
    row("max abs error", metric(lambda m: _num(m.max_abs_err)))
    row("max rel error", metric(lambda m: _num(m.max_rel_err)))
    row("mean abs error", metric(lambda m: _num(m.mean_abs_err)))
    row("cosine similarity", metric(lambda m: f"{m.cosine:.6f}"))
    row("SQNR dB", metric(lambda m: _num(m.snr_db)))
    row("out of tolerance", metric(lambda m: percent(m.out_of_tolerance)))
    row(
        "NaN/Inf ref | cand",
        [
            f"{m.nan_reference}/{m.inf_reference} | {m.nan_candidate}/{m.inf_candidate}"
            for m in outputs
        ],
    )
    if any(m.top1_agreement is not None for m in outputs):
        row("top-1 agreement", [_pct(m.top1_agreement) for m in outputs])
        row("top-5 agreement", [_pct(m.top5_agreement) for m in outputs])
    row("verdict", [_verdict(m.passed) for m in outputs])
    return table


def render_bisect(result: BisectResult, *, last: int = 12) -> Group:
    """The bisect verdict and the error of the tensors leading up to it."""
    table = Table(
        title="error along the network (topological order)", title_justify="left", show_edge=False
    )
    table.add_column("#", justify="right")
    table.add_column("node", overflow="fold")
    table.add_column("op")
    table.add_column("max abs", justify="right")
    table.add_column("max rel", justify="right")
    table.add_column("cosine", justify="right")
    table.add_column("")
    shown = list(enumerate(result.tensors))[-last:]
    if len(result.tensors) > last:
        table.add_row(
            "...", f"{len(result.tensors) - last} earlier tensors agree", "", "", "", "", ""
        )
    for index, m in shown:
        table.add_row(
            str(index),
            m.node or m.name,
            m.op or "",
            _num(m.max_abs_err),
            _num(m.max_rel_err),
            f"{m.cosine:.6f}",
            _verdict(m.passed),
        )
    style = "bold red" if result.found else "green"
    facts = Text(
        f"bisect: {result.message} ({result.compared} of {result.total} tensors compared "
        f"in {result.runs} run(s) per side, {result.samples} sample(s))",
        style=style,
    )
    return Group(facts, table)


def render_ranges(scan: RangeScan) -> Group:
    """The tensors over the format's range (fp32 values against its largest finite value)."""
    limit = f"{scan.limit:.6g}"
    head = (
        f"range vs {scan.precision} (|x| <= {limit}): {scan.scanned} tensors scanned in "
        f"{scan.runs} run(s)"
    )
    if scan.largest is not None:
        head += (
            f"; largest |x| {scan.largest.max_abs:.4g} at node {scan.largest.node!r} "
            f"({scan.largest.op})"
        )
    if not scan.over:
        tail = f"; {scan.underflow_tensors} tensor(s) with values that underflow to zero"
        return Group(Text(head + "; none over the range" + tail, style="green"))
    table = Table(
        title=f"over {scan.precision}'s range: {scan.over_count} tensor(s)",
        title_justify="left",
        show_edge=False,
    )
    table.add_column("node", overflow="fold")
    table.add_column("op")
    table.add_column("tensor", overflow="fold")
    table.add_column("max |x|", justify="right")
    table.add_column(f"values > {limit}", justify="right")
    for r in scan.over[:12]:
        table.add_row(r.node, r.op, r.name, f"{r.max_abs:.4g}", f"{r.over_range} of {r.size}")
    first = scan.over[0]
    words = Text(
        f"first overflow in {scan.precision}: node {first.node!r} ({first.op}), output "
        f"{first.name!r}, max |x| {first.max_abs:.4g} > {limit}",
        style="bold red",
    )
    return Group(Text(head), table, words)


def render_compare(result: CompareResult) -> RenderableType:
    """The compare report: both sides with their configuration, per-output metrics, verdict."""
    facts = Table.grid(padding=(0, 2))
    facts.add_row("model", result.model)
    facts.add_row("reference", _config(result.reference))
    candidate = _config(result.candidate)
    if result.candidate.model != result.model:
        candidate += f" on {result.candidate.model}"
    facts.add_row("candidate", candidate)
    facts.add_row("inputs", result.inputs)
    facts.add_row("precision", f"{result.precision} ({result.precision_mode})")
    if result.min_sqnr_db is not None:
        facts.add_row("tolerance", f"SQNR >= {result.min_sqnr_db:g} dB, no new NaN/inf")
    else:
        facts.add_row("tolerance", f"|cand - ref| <= {result.atol:g} + {result.rtol:g} * |ref|")
    parts: list[RenderableType] = [facts, Text(""), _outputs_table(result.outputs)]
    for note in result.notes:
        parts.append(Text(f"note: {note}", style="yellow"))
    if result.ranges is not None:
        parts += [Text(""), render_ranges(result.ranges)]
    if result.bisect is not None:
        parts += [Text(""), render_bisect(result.bisect)]
    if result.detections is not None:  # boxes decide: matched by IoU and class after host NMS
        det = result.detections
        parts.append(Text(f"detections ({det.layout}-NMS, IoU >= {det.match_iou:g}, score > "
                          f"{det.score_threshold:g}): {det.message}",
                          style="green" if det.passed else "red"))  # fmt: skip
    verdict = (
        "PASS: outputs agree within tolerance"
        if result.passed
        else "FAIL: outputs differ beyond tolerance"
    )
    verdict += f" ({result.precision_label})"
    parts.append(Text(verdict, style="bold green" if result.passed else "bold red"))
    return Group(*parts)
