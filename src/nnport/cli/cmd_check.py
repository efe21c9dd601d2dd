"""``nnport check``: can this model run on the target, and if not, which node breaks which rule."""

from __future__ import annotations

from pathlib import Path

import typer

from nnport.cli.common import (
    INPUT_SHAPE_OPT,
    JSON_OPT,
    MODEL_ARG,
    TARGET_OPT,
    console,
    emit_json,
    input_specs,
)
from nnport.model import load
from nnport.model.specs import resolve_input_shapes
from nnport.report.check import render_check
from nnport.targets import check, load_target
from nnport.targets.infer import validate_graph


def check_cmd(
    model: Path = MODEL_ARG,
    target: str = TARGET_OPT,
    input_shape: list[str] | None = INPUT_SHAPE_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Report every node that breaks the target's rules, in graph order, with the pass that fixes it.

    Runs shape and type inference first (on a copy, with --input-shape applied), so dtype and
    shape rules see real values. Exit 0 when deployable, 1 when not, 2 on bad input.

    Example: nnport check model.onnx --target ascend310 --input-shape input:1x3x224x224
    """
    profile = load_target(target)
    # Structural validation runs on check's weight-free copy: same checks, a fraction of the time.
    loaded = load(model, validate=False)
    validate_graph(loaded, str(model))
    shapes = resolve_input_shapes(loaded, input_specs(input_shape))
    report = check(loaded, profile, input_shapes=shapes)
    if json_out:
        emit_json(report)
    else:
        console.print(render_check(report))
    raise typer.Exit(0 if report.deployable else 1)


def register(app: typer.Typer) -> None:
    """Add the ``check`` verb."""
    app.command("check")(check_cmd)
