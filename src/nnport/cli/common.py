"""Helpers shared by the CLI verbs: consoles, JSON output, common options."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from nnport.model.specs import InputSpec, parse_input_shapes
from nnport.results import dumps

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

MODEL_ARG = typer.Argument(..., help="Path to an ONNX model.", show_default=False)
JSON_OPT = typer.Option(False, "--json", help="Print the result as JSON on stdout.")
TARGET_OPT = typer.Option(
    ...,
    "--target",
    "-t",
    help="Target profile: a shipped name (see `nnport targets`) or a profile .toml path.",
    show_default=False,
)
INPUT_SHAPE_OPT = typer.Option(
    None,
    "--input-shape",
    "-s",
    help="Input shape NAME:1x3x224x224 (or NAME:1,3,224,224); repeat for several inputs.",
    show_default=False,
)


def input_specs(values: list[str] | None) -> list[InputSpec]:
    """Parse the repeated ``--input-shape`` option."""
    return parse_input_shapes(values or [])


def split_names(values: str | list[str] | None) -> tuple[str, ...]:
    """Names from ``a,b,c`` (or from a repeated option of such lists), blanks dropped."""
    items = [values] if isinstance(values, str) else values or []
    return tuple(n.strip() for item in items for n in item.split(",") if n.strip())


def emit_json(result: Any) -> None:
    """Write a result as JSON to stdout (nothing else goes to stdout in --json mode)."""
    sys.stdout.write(dumps(result) + "\n")
    sys.stdout.flush()


def path_arg(value: Path) -> Path:
    """Normalise a path argument."""
    return value.expanduser()
