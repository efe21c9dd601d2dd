"""``nnport compare``: run a model on two backends (or two models) and compare their outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.status import Status

from nnport.cli.common import (
    INPUT_SHAPE_OPT,
    JSON_OPT,
    MODEL_ARG,
    console,
    emit_json,
    err_console,
    input_specs,
)
from nnport.errors import UsageError

BACKEND_OPTION_OPT = typer.Option(
    None,
    "--backend-option",
    "-O",
    help="Candidate backend option KEY=VALUE (e.g. precision=bf16, optimization=basic, "
    "module=pkg.mod:factory, weights=w.pt); repeatable.",
    show_default=False,
)
REFERENCE_OPTION_OPT = typer.Option(
    None,
    "--reference-option",
    help="Reference backend option KEY=VALUE; repeatable.",
    show_default=False,
)

AGAINST_OPT = typer.Option(
    None, "--against", help="Candidate ONNX model (default: MODEL itself).", show_default=False
)
INPUTS_OPT = typer.Option(
    None,
    "--inputs",
    help="An .npz of named input arrays (NAME, or NAME__0, NAME__1, ... per sample).",
    show_default=False,
)


PRECISION_OPT = typer.Option(
    None,
    "--precision",
    help="Run the candidate in fp32|fp16|bf16|int8 and compare against fp32: natively where "
    "the backend computes in it (OpenVINO's precision hint where the CPU has the unit, ncnn "
    "fp16), else emulated on ONNX Runtime (docs/precision.md). Also scans every tensor's "
    "range against the format's limits.",
    show_default=False,
)
CALIBRATE_OPT = typer.Option(
    None,
    "--calibrate",
    help="int8 calibration data: mnist:DIR, imagefolder:DIR (or DIR), or an .npz of inputs "
    "(default: generated inputs).",
    show_default=False,
)
CALIBRATION_SAMPLES_OPT = typer.Option(
    128, "--calibration-samples", help="int8 calibration samples (seeded choice)."
)
CALIBRATOR_OPT = typer.Option(
    "minmax", "--calibrator", help="int8 calibrator: minmax, percentile or entropy."
)
MIN_SQNR_OPT = typer.Option(
    None,
    "--min-sqnr",
    help="Pass when every output's SQNR is at least this many dB (default with --precision "
    "and no --rtol/--atol: fp16 30, bf16 20, int8 15).",
    show_default=False,
)


def parse_options(values: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` strings to a dict (integers become ints)."""
    options: dict[str, Any] = {}
    for text in values or []:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"backend option {text!r} must look like KEY=VALUE")
        value = value.strip()
        options[key.strip()] = int(value) if value.isdigit() else value
    return options


def compare_cmd(
    model: Path = MODEL_ARG,
    against: Path | None = AGAINST_OPT,
    backend: str = typer.Option(
        "onnxruntime",
        "--backend",
        "-b",
        help="Candidate backend: onnxruntime, openvino, ncnn, torch, reference.",
    ),
    reference: str = typer.Option("onnxruntime", "--reference", "-r", help="Reference backend."),
    inputs: Path | None = INPUTS_OPT,
    samples: int = typer.Option(1, "--samples", "-n", help="Generated samples (without --inputs)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the generated inputs."),
    rtol: float | None = typer.Option(
        None, "--rtol", help="Relative tolerance [default: 1e-3].", show_default=False
    ),
    atol: float | None = typer.Option(
        None, "--atol", help="Absolute tolerance [default: 1e-4].", show_default=False
    ),
    bisect: bool = typer.Option(
        False,
        "--bisect",
        help="Find the first node whose output diverges (with --precision: overflows or "
        "leaves tolerance in that format); memory-bounded.",
    ),
    precision: str | None = PRECISION_OPT,
    calibrate: str | None = CALIBRATE_OPT,
    calibration_samples: int = CALIBRATION_SAMPLES_OPT,
    calibrator: str = CALIBRATOR_OPT,
    min_sqnr: float | None = MIN_SQNR_OPT,
    threads: int | None = typer.Option(
        None, "--threads", help="Candidate backend threads.", show_default=False
    ),
    input_shape: list[str] | None = INPUT_SHAPE_OPT,
    images: Path | None = typer.Option(
        None,
        "--images",
        help="Compare on these images (first 8), preprocessed by the model's "
        "nnport.preprocess metadata or --preprocess; detectors then compare by boxes.",
        show_default=False,
    ),
    preprocess: str | None = typer.Option(
        None,
        "--preprocess",
        help='With --images: e.g. "rgb,letterbox=160,scale=1/255".',
        show_default=False,
    ),
    backend_option: list[str] | None = BACKEND_OPTION_OPT,
    reference_option: list[str] | None = REFERENCE_OPTION_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Compare outputs of MODEL on --reference against --backend (or against --against).

    Per output: max abs/rel error, mean abs error, cosine similarity, SQNR, fraction out of
    tolerance, NaN/Inf counts, and top-1/top-5 agreement for classifier outputs. Exit code 0
    when every output agrees within |cand - ref| <= atol + rtol * |ref| (or, with
    --precision, its SQNR floor), 1 otherwise.

    With --precision fp16 (or bf16, int8) MODEL runs in that format against fp32, and every
    fp32 tensor is checked against the format's range: `nnport compare model.onnx
    --precision fp16` names the nodes whose outputs exceed 65504.
    """
    from nnport.model import load, resolve_input_shapes
    from nnport.precision.formats import DEFAULT_MIN_SQNR_DB, get_format
    from nnport.precision.int8 import Int8Options
    from nnport.report.compare import render_compare
    from nnport.verify.compare import CompareOptions, compare
    from nnport.verify.precision import Calibration

    if inputs is not None and (samples != 1 or seed != 0):
        raise UsageError("--inputs and --samples/--seed exclude each other")
    if (rtol is not None and rtol < 0) or (atol is not None and atol < 0):
        raise UsageError("--rtol and --atol must be >= 0")
    fmt = get_format(precision).name if precision is not None else None
    if min_sqnr is None and fmt not in (None, "fp32") and rtol is None and atol is None:
        min_sqnr = DEFAULT_MIN_SQNR_DB[fmt]
    Int8Options(calibrator=calibrator)  # refuses an unknown calibrator before any work
    if model.suffix.lower() == ".json":  # a buckets.json: the bucket with the given input shape
        from nnport.cli.port_buckets import pick_bucket

        given = {s.name or "": s.shape for s in input_specs(input_shape)}
        model = pick_bucket(model, given)
    source = load(model)
    shapes = resolve_input_shapes(source, input_specs(input_shape))
    options = parse_options(backend_option)
    if threads is not None:
        options["threads"] = threads
    if shapes and backend in ("ncnn", "openvino"):
        options.setdefault("input_shapes", shapes)
    compare_options = CompareOptions(
        rtol=1e-3 if rtol is None else rtol,
        atol=1e-4 if atol is None else atol,
        samples=samples,
        seed=seed,
        inputs=str(inputs) if inputs is not None else None,
        input_shapes=shapes or None,
        backend_options=options,
        reference_options=parse_options(reference_option),
        bisect=bisect,
        precision=fmt,
        calibration=Calibration(calibrate, calibration_samples, seed, calibrator),
        min_sqnr_db=min_sqnr,
    )
    feeds = None
    if images is not None:
        from nnport.verify.image_inputs import image_feeds

        if inputs is not None:
            raise UsageError("--images and --inputs exclude each other")
        feeds, _ = image_feeds(source, str(images.expanduser()), preprocess)
    with Status(f"comparing on {backend}", console=err_console) as status:
        result = compare(
            source,
            against=against,
            backend=backend,
            reference=reference,
            options=compare_options,
            feeds=feeds,
            progress=status.update,
        )
    if json_out:
        emit_json(result)
    else:
        console.print(render_compare(result))
    if not result.passed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``compare`` verb."""
    app.command("compare")(compare_cmd)
