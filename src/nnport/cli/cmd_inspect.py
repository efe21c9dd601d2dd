"""``nnport inspect``: print a model's structure."""

from __future__ import annotations

from pathlib import Path

import typer

from nnport.cli.common import JSON_OPT, MODEL_ARG, console, emit_json


def inspect_cmd(model: Path = MODEL_ARG, json_out: bool = JSON_OPT) -> None:
    """Show inputs and outputs (dynamic dims flagged), opsets, op histogram and parameters."""
    from nnport.model import inspect, load
    from nnport.report.summary import render_summary

    summary = inspect(load(model))
    if json_out:
        emit_json(summary)
    else:
        console.print(render_summary(summary))


def register(app: typer.Typer) -> None:
    """Add the ``inspect`` verb."""
    app.command("inspect")(inspect_cmd)
