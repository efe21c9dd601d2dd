"""Render training runs (``TrainResult``) and exports (``ExportResult``) as rich tables."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from nnport.recipes.export import ExportResult
from nnport.recipes.training import TrainResult


def render_train(result: TrainResult) -> Group:
    """Per-epoch loss and accuracy, then the final held-out accuracy, time and checkpoint."""
    table = Table(title=f"train {result.recipe}", title_justify="left", show_edge=False)
    for name in ("epoch", "train loss", "train acc", "held-out acc", "elapsed"):
        table.add_column(name, justify="right")
    for e in result.epochs:
        table.add_row(
            str(e.epoch),
            f"{e.train_loss:.4f}",
            f"{100 * e.train_accuracy:.2f}%",
            f"{100 * e.test_accuracy:.2f}%" if e.test_accuracy >= 0 else "-",
            f"{e.seconds:.1f} s",
        )
    facts = Table.grid(padding=(0, 2))
    facts.add_row("samples", f"{result.train_samples} train, {result.test_samples} held out")
    facts.add_row("accuracy", Text(f"{100 * result.test_accuracy:.2f}% held out", style="bold"))
    facts.add_row(
        "time",
        f"{result.seconds:.1f} s wall, {result.cpu_seconds:.1f} s CPU, {result.threads} threads",
    )
    if result.checkpoint:
        facts.add_row("checkpoint", result.checkpoint)
    return Group(table, Text(""), facts)


def render_export(result: ExportResult) -> Table:
    """One row per written ONNX file with its shape and its largest difference from torch."""
    table = Table(
        title=f"export {result.source} (opset {result.opset}, verified against {result.framework} "
        f"with rtol={result.rtol:g} atol={result.atol:g})",
        title_justify="left",
        show_edge=False,
    )
    table.add_column("file")
    table.add_column("input shape")
    table.add_column("checked batches", justify="right")
    table.add_column("max |diff|", justify="right")
    for m in result.models:
        shape = "x".join(str(d) for d in m.input_shape)
        table.add_row(
            m.path,
            shape + (" (dynamic batch)" if m.dynamic_batch else ""),
            ", ".join(str(b) for b in m.verified_batches),
            f"{m.max_abs_diff:.2e}",
        )
    return table
