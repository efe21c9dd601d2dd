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
        ...,
        "--backend",
        "-b",
        help="Candidate backend: onnxruntime, openvino, ncnn, torch, reference.",
    ),
    reference: str = typer.Option("onnxruntime", "--reference", "-r", help="Reference backend."),
    inputs: Path | None = INPUTS_OPT,
    samples: int = typer.Option(1, "--samples", "-n", help="Generated samples (without --inputs)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the generated inputs."),
    rtol: float = typer.Option(1e-3, "--rtol", help="Relative tolerance."),
    atol: float = typer.Option(1e-4, "--atol", help="Absolute tolerance."),
    bisect: bool = typer.Option(
        False, "--bisect", help="Find the first node whose output diverges (memory-bounded)."
    ),
    precision: str | None = typer.Option(
        None,
        "--precision",
        help="Candidate inference precision (openvino: f32|bf16|f16; ncnn: f32|f16).",
        show_default=False,
    ),
    threads: int | None = typer.Option(
        None, "--threads", help="Candidate backend threads.", show_default=False
    ),
    input_shape: list[str] | None = INPUT_SHAPE_OPT,
    backend_option: list[str] | None = BACKEND_OPTION_OPT,
    reference_option: list[str] | None = REFERENCE_OPTION_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Compare outputs of MODEL on --reference against --backend (or against --against).

    Per output: max abs/rel error, mean abs error, cosine similarity, SNR, fraction out of
    tolerance, NaN/Inf counts, and top-1/top-5 agreement for classifier outputs. Exit code 0
    when every output agrees within |cand - ref| <= atol + rtol * |ref|, 1 otherwise.
    """
    from nnport.model import load, resolve_input_shapes
    from nnport.report.compare import render_compare
    from nnport.verify.compare import CompareOptions, compare

    if inputs is not None and (samples != 1 or seed != 0):
        raise UsageError("--inputs and --samples/--seed exclude each other")
    if rtol < 0 or atol < 0:
        raise UsageError("--rtol and --atol must be >= 0")
    source = load(model)
    shapes = resolve_input_shapes(source, input_specs(input_shape))
    options = parse_options(backend_option)
    if precision is not None:
        options["precision"] = precision
    if threads is not None:
        options["threads"] = threads
    if shapes and backend in ("ncnn", "openvino"):
        options.setdefault("input_shapes", shapes)
    compare_options = CompareOptions(
        rtol=rtol,
        atol=atol,
        samples=samples,
        seed=seed,
        inputs=str(inputs) if inputs is not None else None,
        input_shapes=shapes or None,
        backend_options=options,
        reference_options=parse_options(reference_option),
        bisect=bisect,
    )
    with Status(f"comparing on {backend}", console=err_console) as status:
        result = compare(
            source,
            against=against,
            backend=backend,
            reference=reference,
            options=compare_options,
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
