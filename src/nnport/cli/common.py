"""Helpers shared by the CLI verbs: consoles, JSON output, common options."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from nnport.errors import UsageError
from nnport.results import dumps

if TYPE_CHECKING:  # onnx-ir loads on first use: `nnport --help` stays fast
    from nnport.model.specs import InputSpec

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
    from nnport.model.specs import parse_input_shapes

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


BATCH_GEARS_OPT = typer.Option(
    None,
    "--batch-gears",
    help="Keep the batch dim dynamic for ATC gears, e.g. 1,2,4,8 (verified and checked at "
    "each size; atc gets --dynamic_batch_size).",
    show_default=False,
)
IMAGE_GEARS_OPT = typer.Option(
    None,
    "--image-gears",
    help="Keep H and W of 4-D inputs dynamic for ATC gears, e.g. 224x224,320x320 (verified "
    "and checked at each size; atc gets --dynamic_image_size).",
    show_default=False,
)


def parse_batch_gears(text: str | None) -> tuple[int, ...]:
    """``1,4,8`` -> (1, 4, 8): ATC batch gears (at least two different sizes, each >= 1)."""
    if not text:
        return ()
    try:
        gears = tuple(int(g) for g in text.split(","))
    except ValueError as exc:
        raise UsageError(f"--batch-gears {text!r} is not a comma-separated list of sizes") from exc
    if any(g <= 0 for g in gears):
        raise UsageError("--batch-gears sizes must be >= 1")
    if len(set(gears)) < 2:
        raise UsageError("--batch-gears needs at least 2 different sizes (ATC's rule)")
    return gears


def parse_image_gears(text: str | None) -> tuple[tuple[int, int], ...]:
    """``224x224,320x320`` -> ((224, 224), (320, 320)): ATC image gears (H, W pairs)."""
    if not text:
        return ()
    try:
        gears = tuple((int(h), int(w)) for h, w in (g.lower().split("x") for g in text.split(",")))
    except ValueError as exc:
        raise UsageError(f"--image-gears {text!r} is not a list like 224x224,320x320") from exc
    if any(h <= 0 or w <= 0 for h, w in gears):
        raise UsageError("--image-gears sizes must be >= 1")
    if len(set(gears)) < 2:
        raise UsageError("--image-gears needs at least 2 different sizes (ATC's rule)")
    return gears


def parse_gears(
    batch: str | None, image: str | None
) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...]]:
    """Both gear options parsed; ATC takes batch gears or image gears, never both."""
    if batch and image:
        raise UsageError("--batch-gears and --image-gears cannot be combined (ATC takes one)")
    return parse_batch_gears(batch), parse_image_gears(image)
