"""``nnport diagnose``: why a detector finds nothing (input range, channel order, layout,
scores, box decoding, threshold/NMS), as a table, JSON or an HTML page with the images."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import typer

from nnport.cli.common import JSON_OPT, MODEL_ARG, console, emit_json
from nnport.errors import UsageError

SourceRun = Callable[[np.ndarray], Mapping[str, np.ndarray]]


def _source_run(source: Path) -> SourceRun:
    """The original model as a function of one preprocessed batch: an ONNX file on ONNX
    Runtime, or an nnport detector checkpoint on torch."""
    if not source.is_file():
        raise UsageError(f"--source {source} does not exist")
    if source.suffix.lower() == ".onnx":
        from nnport.backends import make_runner
        from nnport.model.io import load

        model = load(source)
        name = next(v.name for v in model.graph.inputs if v.name not in model.graph.initializers)
        runner = make_runner("onnxruntime", model)
        runner.__enter__()
        return lambda x: runner.infer({name or "input": x})
    from nnport.recipes.sources import detector_source

    return detector_source(source)


def diagnose_cmd(
    model: Path = MODEL_ARG,
    images: Path = typer.Option(
        ...,
        "--images",
        help="Folder of images the pipeline sees (or with an images/ folder).",
        show_default=False,
    ),
    preprocess: str | None = typer.Option(
        None,
        "--preprocess",
        help='Your pipeline\'s preprocessing, e.g. "bgr,letterbox=640,scale=1,nhwc" (default: '
        "what the model's metadata records).",
    ),
    source: Path | None = typer.Option(
        None,
        "--source",
        help="The original model (ONNX fp32 file or nnport detector checkpoint): say at which "
        "stage the pipelines part.",
    ),
    backend: str = typer.Option("onnxruntime", "--backend", "-b", help="Runtime to run MODEL on."),
    score_threshold: float = typer.Option(
        0.25, "--score-threshold", min=0.0, max=1.0, help="Your pipeline's score threshold."
    ),
    nms_iou: float = typer.Option(0.5, "--nms-iou", min=0.0, max=1.0, help="NMS IoU threshold."),
    limit: int = typer.Option(8, "--limit", min=1, help="Images to look at."),
    precision: str | None = typer.Option(
        None,
        "--precision",
        help="Also run the model in fp16, bf16 or int8 (the target's format; natively where "
        "the backend computes in it, else emulated) and check the boxes survive.",
    ),
    html_out: Path | None = typer.Option(
        None, "--html", help="Write an HTML page with the checks and the annotated images."
    ),
    json_out: bool = JSON_OPT,
) -> None:
    """The "detects nothing" triage: runs your pipeline on real images and checks input-range,
    channel-order, layout, output-finite, score-distribution, decode-geometry and
    threshold-nms (with --precision, precision; with --source, where the pipelines part). Exit 0 when every check
    passes, 1 when any fails."""
    from nnport.report.diagnose import render_diagnose, render_diagnose_html
    from nnport.verify.diagnose import DiagnoseOptions, diagnose

    run = _source_run(source.expanduser()) if source is not None else None
    options = DiagnoseOptions(
        images=str(images.expanduser()),
        preprocess=preprocess,
        backend=backend,
        score_threshold=score_threshold,
        nms_iou=nms_iou,
        limit=limit,
        source=str(source) if source else None,
        precision=precision,
    )
    result = diagnose(model.expanduser(), options, run)
    if html_out is not None:
        from nnport.model.io import atomic_path

        with atomic_path(html_out.expanduser()) as tmp:
            Path(tmp).write_text(render_diagnose_html(result), encoding="utf-8")
    if json_out:
        emit_json(result)
    else:
        console.print(render_diagnose(result))
        if html_out is not None:
            console.print(f"page: {html_out}")
    if not result.passed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``diagnose`` verb."""
    app.command("diagnose")(diagnose_cmd)
