"""``nnport evaluate --task detect``: COCO mAP per backend and precision on labelled images."""

from __future__ import annotations

from pathlib import Path

import typer

from nnport.cli.common import console, emit_json


def evaluate_detect(
    model: Path,
    data: Path,
    backends: tuple[str, ...],
    precision: str,
    source: Path | None,
    preprocess: str | None,
    limit: int | None,
    threads: int | None,
    strict: bool,
    json_out: bool,
) -> None:
    """Run the detection evaluation and render it; exit 1 with --strict when boxes change."""
    from nnport.precision.formats import parse_precisions
    from nnport.report.detect_eval import render_detect_eval
    from nnport.verify.detect_eval import DetectEvalOptions, evaluate_detections

    options = DetectEvalOptions(
        data=str(data.expanduser()),
        backends=backends,
        precisions=parse_precisions(precision),
        preprocess=preprocess,
        limit=limit,
        threads=threads,
    )
    from nnport.recipes.sources import detector_source

    run = detector_source(source.expanduser()) if source is not None else None
    result = evaluate_detections(model.expanduser(), options, run)  # type: ignore[arg-type]
    if source is not None:
        import dataclasses

        result = dataclasses.replace(result, source=str(source))
    if json_out:
        emit_json(result)
    else:
        console.print(render_detect_eval(result))
    if strict and not result.all_agree:
        raise typer.Exit(1)
