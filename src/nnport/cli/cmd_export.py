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
    framework: str = typer.Option(
        "auto",
        "--framework",
        help="torch, keras or mindspore (auto: a .keras/.h5 file or "
        "SavedModel folder is keras, --checkpoint makes mindspore, else torch).",
    ),
    checkpoint: Path | None = typer.Option(
        None, "--checkpoint", help="MindSpore .ckpt for MODULE:FACTORY.", show_default=False
    ),
    layout: str = typer.Option(
        "nhwc", "--layout", help="Keras: keep NHWC inputs, or nchw (transposed, verified)."
    ),
    input_dtype: list[str] | None = typer.Option(
        None,
        "--input-dtype",
        show_default=False,
        help="MindSpore: NAME:DTYPE for a non-float32 input (e.g. idx:int64); repeatable.",
    ),
    int_high: int | None = typer.Option(
        None,
        "--int-high",
        min=1,
        show_default=False,
        help="Integer inputs get values in [0, N) when verifying (default: the smallest dim).",
    ),
    json_out: bool = JSON_OPT,
) -> None:
    """Export to ONNX from torch, Keras/TensorFlow or MindSpore; every file is checked against
    the source framework on seeded inputs before it is written. Several --shape values write
    one static model per shape and a buckets.json manifest."""
    kind = _framework(source, framework, checkpoint)
    if kind != "torch":
        dtypes = dict(_dtype(text) for text in input_dtype or [])
        _export_framework(kind, source, output, shape or [], opset, rtol, atol, checkpoint,
                          layout, int_high, dtypes, json_out)  # fmt: skip
        return
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


def _dtype(text: str) -> tuple[str, str]:
    import numpy as np

    name, sep, dtype = text.partition(":")
    try:
        valid = bool(sep and name) and np.dtype(dtype).kind in "biuf"
    except TypeError:
        valid = False
    if not valid:
        raise UsageError(f"--input-dtype {text!r}: give NAME:DTYPE, e.g. idx:int64")
    return name, str(np.dtype(dtype))


def _framework(source: str, framework: str, checkpoint: Path | None) -> str:
    if framework not in ("auto", "torch", "keras", "mindspore"):
        raise UsageError(f"--framework {framework!r}: choose torch, keras or mindspore")
    if framework != "auto":
        return framework
    from nnport.recipes.keras_source import is_keras_source

    if is_keras_source(Path(source).expanduser()):
        return "keras"
    return "mindspore" if checkpoint is not None else "torch"


def _export_framework(kind: str, source: str, output: Path, shape: list[str], opset: int,
                      rtol: float, atol: float, checkpoint: Path | None, layout: str,
                      int_high: int | None, dtypes: dict[str, str], json_out: bool) -> None:  # fmt: skip
    from nnport.report.train import render_export

    if kind == "keras":
        from nnport.recipes.keras_source import KerasExportOptions, export_keras

        path = Path(source).expanduser()
        if not path.exists():
            raise UsageError(f"no Keras model at {source}")
        options = KerasExportOptions(tuple(shape), layout, opset, rtol, atol)
        result = export_keras(path, output.expanduser(), options)
        if json_out:
            emit_json(result)
        else:
            console.print(render_export(result))
        return
    from nnport.recipes.mindspore_source import MindSporeExportOptions, export_mindspore

    ms_options = MindSporeExportOptions(tuple(shape), dtypes, int_high, rtol, atol)
    done = export_mindspore(source, checkpoint, output.expanduser(), ms_options)
    if json_out:
        emit_json(done)
        return
    console.print(render_export(done.export))
    for sub in done.substitutions:
        console.print(f"substituted {sub.op} in {sub.cell}: {sub.replacement}")
    for pattern in done.patterns:
        console.print(f"MindSpore pattern {pattern.pattern} -> {', '.join(pattern.onnx_ops)}: "
                      f"{pattern.note}")  # fmt: skip
    timing = done.timing
    console.print(f"MindSpore forward: first call {timing.first_call_s:.3f} s, then "
                  f"{timing.steady_call_s:.4f} s per call" + (f" ({timing.note})" if timing.note else ""))  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add the ``export`` verb."""
    app.command("export")(export_cmd)
