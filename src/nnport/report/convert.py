"""Render a ConvertResult."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from nnport.backends.convert import ConvertResult
from nnport.report.format import human_bytes


def render_convert(result: ConvertResult) -> Table:
    """Artifact, files with sizes, conversion time."""
    table = Table.grid(padding=(0, 2))
    table.add_row("model", result.model)
    table.add_row("converted to", f"{result.to} ({result.runtime})")
    if result.input_shapes:
        table.add_row(
            "input shapes",
            ", ".join(f"{k}:{'x'.join(map(str, v))}" for k, v in result.input_shapes.items()),
        )
    table.add_row("artifact", result.artifact)
    for path in result.files:
        size = Path(path).stat().st_size if Path(path).exists() else 0
        table.add_row("", f"{Path(path).name}  {human_bytes(size)}")
    table.add_row("size", human_bytes(result.size_bytes))
    table.add_row("time", f"{result.seconds:.2f} s")
    for note in result.notes:
        table.add_row("note", note)
    if result.layers:
        table.add_row("ONNX node", "-> Caffe layers")
        for row in result.layers:
            made = ", ".join(f"{n} ({t})" for n, t in zip(row.layers, row.types, strict=True))
            table.add_row(f"{row.node} ({row.op})", made or "(no layer: an alias)")
    return table
