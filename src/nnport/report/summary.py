"""Render an inspect ``Summary`` as rich tables."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from nnport.model.specs import TensorInfo
from nnport.model.summary import Summary
from nnport.report.format import human_bytes, human_count


def _io_table(title: str, values: tuple[TensorInfo, ...]) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False)
    table.add_column("name")
    table.add_column("dtype")
    table.add_column("shape")
    table.add_column("")
    for info in values:
        flag = Text("dynamic", style="yellow") if info.dynamic else Text("static", style="green")
        table.add_row(Text(info.name), Text(info.dtype), Text(info.shape_text()), flag)
    return table


def render_summary(summary: Summary, *, top: int = 20) -> Group:
    """The inspect report: header facts, I/O tables and the op histogram."""
    opsets = ", ".join(f"{d} {v}" for d, v in summary.opsets.items())
    producer = f"{summary.producer_name} {summary.producer_version}".strip() or "unknown"
    facts = Table.grid(padding=(0, 2))
    facts.add_row("model", Text(summary.path or "(in memory)"))
    facts.add_row("producer", Text(producer))
    facts.add_row("IR version", str(summary.ir_version))
    facts.add_row("opsets", opsets)
    nodes = str(summary.node_count)
    if summary.node_count_total != summary.node_count:
        nodes += f" ({summary.node_count_total} with subgraphs and functions)"
    facts.add_row("nodes", nodes)
    facts.add_row(
        "parameters",
        f"{human_count(summary.parameter_count)} ({human_bytes(summary.parameter_bytes)})",
    )
    if summary.external_data_files:
        facts.add_row("external data", Text(", ".join(summary.external_data_files)))
    if summary.custom_domains:
        facts.add_row("custom domains", Text(", ".join(summary.custom_domains)))
    if summary.dynamic_inputs:
        facts.add_row(
            "dynamic inputs",
            Text(", ".join(summary.dynamic_inputs) + " (fix with --input-shape)", "yellow"),
        )
    ops = Table(title="operators", title_justify="left", show_edge=False)
    ops.add_column("op")
    ops.add_column("count", justify="right")
    items = list(summary.op_histogram.items())
    for op, count in items[:top]:
        ops.add_row(Text(op), str(count))
    if len(items) > top:
        rest = sum(c for _, c in items[top:])
        ops.add_row(f"... {len(items) - top} more op types", str(rest))
    return Group(
        facts,
        Text(""),
        _io_table("inputs", summary.inputs),
        Text(""),
        _io_table("outputs", summary.outputs),
        Text(""),
        ops,
    )
