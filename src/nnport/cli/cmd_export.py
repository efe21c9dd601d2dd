"""``nnport export``: torch checkpoint (or MODULE:FACTORY + weights) to verified ONNX files."""

from __future__ import annotations

from pathlib import Path

import typer

from nnport.cli.common import JSON_OPT, console, emit_json
from nnport.errors import UsageError

SOURCE_ARG = typer.Argument(
    ...,
    help="An nnport checkpoint (from `nnport train`), or MODULE:FACTORY returning a torch.nn.Module.",
    show_default=False,
)
OUT_OPT = typer.Option(..., "--output", "-o", help="ONNX file to write.", show_default=False)
SHAPE_OPT = typer.Option(
    None,
    "--shape",
    help="Input shape like 1x1x28x28; repeat for one static model per shape (OUT_1x1x28x28.onnx).",
    show_default=False,
)
WEIGHTS_OPT = typer.Option(
    None, "--weights", help="state_dict file for MODULE:FACTORY.", show_default=False
)


def export_cmd(
    source: str = SOURCE_ARG,
    output: Path = OUT_OPT,
    shape: list[str] | None = SHAPE_OPT,
    dynamic_batch: bool = typer.Option(
        False, "--dynamic-batch", help="One model whose batch dimension is dynamic."
    ),
    opset: int = typer.Option(17, "--opset", min=7, help="ONNX opset to export."),
    weights: Path | None = WEIGHTS_OPT,
    rtol: float = typer.Option(1e-4, "--rtol", min=0.0, help="Relative tolerance vs torch."),
    atol: float = typer.Option(1e-5, "--atol", min=0.0, help="Absolute tolerance vs torch."),
    nms: bool = typer.Option(
        False,
        "--nms",
        help="Detector checkpoints: end the graph with NMS (rows x1,y1,x2,y2,"
        "score,class); without it the outputs are decoded boxes and scores before NMS.",
    ),
    json_out: bool = JSON_OPT,
) -> None:
    """Export to ONNX; every file is checked against the torch module (ONNX Runtime vs torch on
    seeded inputs) before it is written, and records the input normalization as metadata."""
    from nnport.recipes.export import ExportOptions, export, parse_shapes
    from nnport.recipes.load import load_checkpoint, load_factory
    from nnport.report.train import render_export

    path = Path(source).expanduser()
    if path.is_file():
        if weights is not None:
            raise UsageError("--weights goes with MODULE:FACTORY, not with a checkpoint file")
        model, info = load_checkpoint(path)
    elif ":" in source and not path.exists():
        model, info = load_factory(source, weights), None
    else:
        raise UsageError(f"{source} is neither an existing checkpoint file nor MODULE:FACTORY")
    if info is not None and info.architecture == "shapes_detector":
        from nnport.recipes.detector import for_export

        model = for_export(model, nms=nms)
    elif nms:
        raise UsageError("--nms applies to detector checkpoints (`nnport train detector`)")
    options = ExportOptions(
        shapes=parse_shapes(shape or []),
        dynamic_batch=dynamic_batch,
        opset=opset,
        rtol=rtol,
        atol=atol,
    )
    result = export(model, output.expanduser(), options, info=info, source=source)
    if json_out:
        emit_json(result)
    else:
        console.print(render_export(result))


def register(app: typer.Typer) -> None:
    """Add the ``export`` verb."""
    app.command("export")(export_cmd)
