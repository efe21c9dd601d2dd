"""``nnport check``: can this model run on the target, and if not, which node breaks which rule."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.text import Text

from nnport.cli.common import (
    INPUT_SHAPE_OPT,
    JSON_OPT,
    MODEL_ARG,
    TARGET_OPT,
    console,
    emit_json,
    input_specs,
    parse_gears,
    refuse_unknown_opset,
)
from nnport.results import to_jsonable

if TYPE_CHECKING:  # loaded on first use: `nnport --help` stays fast
    import onnx_ir as ir

    from nnport.check import CheckReport


def check_cmd(
    model: Path = MODEL_ARG,
    target: str = TARGET_OPT,
    input_shape: list[str] | None = INPUT_SHAPE_OPT,
    batch_gears: str | None = typer.Option(
        None,
        "--batch-gears",
        help="ATC batch gears, e.g. 1,4,8: check the model at each batch size.",
        show_default=False,
    ),
    image_gears: str | None = typer.Option(
        None,
        "--image-gears",
        help="ATC image gears, e.g. 224x224,320x320: check at each H x W.",
        show_default=False,
    ),
    json_out: bool = JSON_OPT,
) -> None:
    """Report every node that breaks the target's rules, in graph order, with the pass that fixes it.

    Runs shape and type inference first (on a copy, with --input-shape applied), so dtype and
    shape rules see real values. Exit 0 when deployable, 1 when not, 2 on bad input.

    With --batch-gears or --image-gears (ATC gears), the model is checked at every gear shape,
    the way ATC compiles one static model per gear; the report shown is the first gear that
    fails, or the first gear when all pass.

    Example: nnport check model.onnx --target ascend310 --input-shape input:1x3x224x224
    """
    from nnport.check import check
    from nnport.check.infer import validate_graph
    from nnport.model import load
    from nnport.model.specs import InputSpec, resolve_input_shapes
    from nnport.report.check import render_check
    from nnport.targets import load_target

    profile = load_target(target)
    # Structural validation runs on check's weight-free copy: same checks, a fraction of the time.
    loaded = load(model, validate=False)
    validate_graph(loaded, str(model))
    refuse_unknown_opset(loaded, model)
    shapes = resolve_input_shapes(loaded, input_specs(input_shape))
    batch, images = parse_gears(batch_gears, image_gears)
    if not (batch or images):
        report = check(loaded, profile, input_shapes=shapes)
        if json_out:
            emit_json(report)
        else:
            console.print(render_check(report, fix_order=_fix_order(report)))
        raise typer.Exit(0 if report.deployable else 1)
    from nnport.passes.gears import gear_shapes  # only with gears: the passes load lazily

    every = [  # each gear must fit the model's static dims (ATC varies only -1 dims)
        resolve_input_shapes(loaded, [InputSpec(k, v) for k, v in gear.items()])
        for gear in gear_shapes(_gear_base(loaded, shapes), batch=batch, images=images)
    ]
    reports = [check(loaded, profile, input_shapes=gear) for gear in every]
    failing = [r for r in reports if not r.deployable]
    unset = [] if batch else _dynamic_batch(loaded, shapes)
    note = (
        f"the batch of {', '.join(repr(n) for n in unset)} is dynamic and was checked as 1 "
        "(ATC varies either the batch or the image size; give another batch with --input-shape)"
        if unset
        else ""
    )
    shown = failing[0] if failing else reports[0]
    labels = [str(b) for b in batch] or [f"{h}x{w}" for h, w in images]
    if json_out:
        data = to_jsonable(shown)
        data["gears"] = [
            {"gear": label, "input_shapes": {k: list(v) for k, v in gear.items()},
             "deployable": r.deployable, "violations": len(r.violations)}
            for label, gear, r in zip(labels, every, reports, strict=True)
        ]  # fmt: skip
        data["deployable"] = not failing
        if note:
            data["notes"] = [*data.get("notes", []), note]
        emit_json(data)
    else:
        console.print(render_check(shown, fix_order=_fix_order(shown)))
        console.print(Text(_gear_line(profile.name, labels, reports)))
        if note:
            console.print(Text(f"note: {note}"))
    raise typer.Exit(1 if failing else 0)


def _fix_order(report: CheckReport) -> list[str]:
    """The passes ``fix`` would apply for the report's violations, in its order (the planner's
    catalog order: shapes first, then op rewrites, the opset move, dtypes)."""
    if not report.fixes:
        return []
    from nnport.passes.planner import planned_fixes  # only when there is something to fix

    return planned_fixes(report.violations)


def _gear_base(model: ir.Model, shapes: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """Each input's shape for gear expansion: the given one, else its static dims with the gear
    dims (batch, or H and W of 4-D inputs) set to 1 until a gear replaces them."""
    from nnport.model.specs import graph_inputs

    base = dict(shapes)
    for value in graph_inputs(model):
        name = value.name or ""
        if name in base or value.shape is None:
            continue
        dims = [d if isinstance(d, int) else None for d in value.shape]
        gear_dims = {0} | ({2, 3} if len(dims) == 4 else set())
        if all(d is not None or i in gear_dims for i, d in enumerate(dims)):
            base[name] = tuple(1 if d is None else d for d in dims)
    return base


def _dynamic_batch(model: ir.Model, shapes: dict[str, tuple[int, ...]]) -> list[str]:
    """Inputs whose first dim is symbolic and not given a size by --input-shape."""
    from nnport.model.specs import graph_inputs

    return [
        v.name or ""
        for v in graph_inputs(model)
        if (v.name or "") not in shapes and v.shape is not None and len(v.shape) >= 1
        and not isinstance(v.shape[0], int)
    ]  # fmt: skip


def _gear_line(target: str, labels: list[str], reports: list[CheckReport]) -> str:
    verdicts = ", ".join(
        f"{label} {'ok' if r.deployable else f'{len(r.violations)} violation(s)'}"
        for label, r in zip(labels, reports, strict=True)
    )
    ok = all(r.deployable for r in reports)
    head = (
        f"deployable on {target} at every gear"
        if ok
        else f"NOT deployable on {target} at every gear"
    )
    return f"{head} (checked one static shape per gear, as ATC compiles them): {verdicts}"


def register(app: typer.Typer) -> None:
    """Add the ``check`` verb."""
    app.command("check")(check_cmd)
