"""``nnport evaluate``: top-1 accuracy of a model per backend on a real dataset."""

from __future__ import annotations

from pathlib import Path

import typer

from nnport.cli.cmd_compare import CALIBRATE_OPT, CALIBRATION_SAMPLES_OPT, CALIBRATOR_OPT
from nnport.cli.common import JSON_OPT, MODEL_ARG, console, emit_json, split_names
from nnport.errors import UsageError

DATASET_OPT = typer.Option(
    "mnist", "--dataset", help="mnist (IDX test split) or imagefolder (ROOT/CLASS/IMAGE)."
)
DATA_OPT = typer.Option(
    ..., "--data", help="Dataset folder (MNIST IDX files, or an image folder).", show_default=False
)
BACKEND_OPT = typer.Option(
    "onnxruntime",
    "--backend",
    "-b",
    help="Comma-separated backends: onnxruntime,openvino,ncnn.",
)
PRECISIONS_OPT = typer.Option(
    "fp32",
    "--precision",
    help="Comma-separated number formats: fp32,fp16,bf16,int8. Each runs natively where the "
    "backend computes in it, else emulated on ONNX Runtime; the table gives accuracy per "
    "format, agreement with fp32 and the images that change class. int8 calibrates on "
    "--calibrate (default: MNIST's training split, or the image folder).",
)
SOURCE_OPT = typer.Option(
    None,
    "--source",
    help="The model it was exported from: an nnport torch checkpoint, a Keras file or SavedModel "
    "folder, or MindSpore MODULE:FACTORY with --source-checkpoint; reports agreement with it.",
)


def evaluate_cmd(
    model: Path = MODEL_ARG,
    dataset: str = DATASET_OPT,
    data: Path = DATA_OPT,
    backend: str = BACKEND_OPT,
    source: Path | None = SOURCE_OPT,
    limit: int | None = typer.Option(None, "--limit", min=1, help="Evaluate the first N images."),
    batch_size: int = typer.Option(
        500, "--batch-size", min=1, help="Images per inference call (dynamic-batch models)."
    ),
    threads: int | None = typer.Option(None, "--threads", min=1, help="Runtime CPU threads."),
    precision: str = PRECISIONS_OPT,
    calibrate: str | None = CALIBRATE_OPT,
    calibration_samples: int = CALIBRATION_SAMPLES_OPT,
    calibrator: str = CALIBRATOR_OPT,
    seed: int = typer.Option(0, "--seed", help="Seed of the calibration samples' choice."),
    strict: bool = typer.Option(
        False, "--strict", help="Exit 1 when any two predictions (or the source) differ."
    ),
    source_checkpoint: Path | None = typer.Option(
        None,
        "--source-checkpoint",
        show_default=False,
        help="With --source MODULE:FACTORY: the MindSpore .ckpt to load into it.",
    ),
    task: str = typer.Option(
        "classify",
        "--task",
        help="classify (top-1) or detect (COCO mAP on YOLO-txt or COCO-JSON "
        "labelled images: --data SPLIT_DIR or annotations.json; needs nnport[detect]).",
    ),
    preprocess: str | None = typer.Option(
        None,
        "--preprocess",
        help="--task detect: preprocessing spec (default: the model's).",
    ),
    json_out: bool = JSON_OPT,
) -> None:
    """Accuracy per backend and number format on a dataset (normalization read from the model's
    nnport metadata), agreement with the source torch model and with fp32, and the images where
    predictions differ: `nnport evaluate mnist.onnx --data DIR --precision fp32,fp16,int8`."""
    if task == "detect":
        from nnport.cli.evaluate_detect import evaluate_detect

        evaluate_detect(model, data, split_names(backend), precision, source, preprocess, limit,
                        threads, strict, json_out)  # fmt: skip
        return
    if task != "classify":
        raise UsageError(f"--task {task!r}: choose classify or detect")
    from nnport.precision.formats import parse_precisions
    from nnport.precision.int8 import Int8Options
    from nnport.report.evaluate import render_evaluate
    from nnport.verify.evaluate import EvaluateOptions, evaluate
    from nnport.verify.precision import Calibration

    names = split_names(backend)
    precisions = parse_precisions(precision)
    Int8Options(calibrator=calibrator)  # refuses an unknown calibrator before any work
    options = EvaluateOptions(
        dataset=dataset,
        data=str(data),
        backends=names,
        source=str(source) if source else None,
        limit=limit,
        batch_size=batch_size,
        threads=threads,
        precisions=precisions,
        calibration=Calibration(calibrate, calibration_samples, seed, calibrator),
    )
    predictor = None
    if source is not None:
        from nnport.recipes.sources import load_source

        predictor = load_source(str(source), source_checkpoint)
    result = evaluate(model, options, predictor)
    if json_out:
        emit_json(result)
    else:
        console.print(render_evaluate(result))
    if strict and not result.all_agree:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``evaluate`` verb."""
    app.command("evaluate")(evaluate_cmd)
