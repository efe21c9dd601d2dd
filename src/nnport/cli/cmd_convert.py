"""``nnport convert``: write a runtime artifact (OpenVINO IR, ncnn param/bin) for a model."""

from __future__ import annotations

from pathlib import Path

import typer

from nnport.cli.common import (
    INPUT_SHAPE_OPT,
    JSON_OPT,
    MODEL_ARG,
    console,
    emit_json,
    input_specs,
    output_folder,
)

# No short flag: every other verb's -t is --target.
TO_OPT = typer.Option(..., "--to", help="Runtime to convert for: openvino, ncnn or caffe (NNIE).")
OUT_OPT = typer.Option(
    ...,
    "--output",
    "-o",
    help="Output folder (created; files replaced atomically).",
    show_default=False,
)
CALIBRATE_OPT = typer.Option(
    None,
    "--calibrate",
    help="caffe: folder of calibration images listed in image_list.txt for nnie_mapper.",
    show_default=False,
)


def convert_cmd(
    model: Path = MODEL_ARG,
    to: str = TO_OPT,
    output: Path = OUT_OPT,
    input_shape: list[str] | None = INPUT_SHAPE_OPT,
    calibrate: Path | None = CALIBRATE_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Convert MODEL for --to openvino|ncnn|caffe into folder -o, reporting time and size.

    caffe writes model.prototxt + model.caffemodel for HiSilicon's NNIE mapper, with
    nnie_mapper.cfg (and image_list.txt from --calibrate), and lists which ONNX node became
    which Caffe layer (docs/caffe.md).

    OpenVINO IR keeps f32 weights; ncnn goes through pnnx with f32 weights and needs static
    input shapes (give --input-shape for dynamic inputs). A failed conversion names the node
    and op the converter rejected and leaves nothing behind.
    """
    from nnport.backends.convert import convert
    from nnport.model import load, resolve_input_shapes
    from nnport.report.convert import render_convert

    output = output_folder(output)  # a file, or a folder that takes no files: before any work
    source = load(model)
    shapes = resolve_input_shapes(source, input_specs(input_shape))
    result = convert(source, to, output, input_shapes=shapes, calibrate=calibrate)
    if json_out:
        emit_json(result)
    else:
        console.print(render_convert(result))


def register(app: typer.Typer) -> None:
    """Add the ``convert`` verb."""
    app.command("convert")(convert_cmd)
