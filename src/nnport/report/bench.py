"""Render a BenchResult as one table, a row per backend."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from nnport.bench.run import BenchResult


def render_bench(result: BenchResult) -> Group:
    """Latency mean/p50/p90/p99 (ms) and throughput per backend, with each backend's config."""
    shapes = ", ".join(f"{k}:{'x'.join(map(str, v))}" for k, v in result.input_shapes.items())
    head = Text(f"{result.model}  batch {result.batch}  inputs {shapes}  warm-up {result.warmup}")
    table = Table(show_edge=False)
    table.add_column("backend")
    for column in ("iters", "mean ms", "p50 ms", "p90 ms", "p99 ms", "items/s"):
        table.add_column(column, justify="right")
    notes: list[Text] = []
    for t in result.timings:
        if t.error:
            table.add_row(t.backend, "-", "-", "-", "-", "-", "-")
            notes.append(Text(f"{t.backend}: {t.error}", style="red"))
            continue
        config = ", ".join(f"{k}={v}" for k, v in t.config.items() if k != "runtime")
        label = f"{t.backend} precision={t.precision} ({t.precision_mode})"
        notes.append(Text(f"{label}: {t.config.get('runtime', '')}; {config}", style="dim"))
        if t.precision_mode == "emulated":
            notes.append(
                Text(
                    f"{t.backend}: {t.precision} is emulated on ONNX Runtime; this time is "
                    "the emulation's, not the device's",
                    style="yellow",
                )
            )
        table.add_row(
            f"{t.backend}\n{t.precision} ({t.precision_mode})",
            str(t.iterations),
            f"{t.mean_ms:.2f}",
            f"{t.p50_ms:.2f}",
            f"{t.p90_ms:.2f}",
            f"{t.p99_ms:.2f}",
            f"{t.throughput:.1f}",
        )
    return Group(head, table, *notes)
