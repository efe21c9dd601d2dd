"""``nnport port``: the main job, from a model file to a verified model for one target."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.status import Status

from nnport.cli.common import (
    INPUT_SHAPE_OPT,
    JSON_OPT,
    MODEL_ARG,
    TARGET_OPT,
    console,
    emit_json,
    err_console,
    input_specs,
    output_folder,
    refuse_unknown_opset,
    split_names,
)
from nnport.errors import UsageError
from nnport.results import dumps

if TYPE_CHECKING:  # loaded on first use: `nnport --help` stays fast
    from nnport.pipeline import PortResult


def port_cmd(
    model: Path = MODEL_ARG,
    target: str = TARGET_OPT,
    output: Path = typer.Option(
        ..., "--output", "-o", help="Output folder for the fixed model, artifacts and reports."
    ),
    input_shape: list[str] | None = INPUT_SHAPE_OPT,
    inputs: Path | None = typer.Option(
        None, "--inputs", help="An .npz of named inputs to verify with (default: generated)."
    ),
    rtol: float = typer.Option(1e-4, "--rtol", help="Relative tolerance for float outputs."),
    atol: float = typer.Option(1e-5, "--atol", help="Absolute tolerance for float outputs."),
    runtime_rtol: float = typer.Option(
        1e-3, "--runtime-rtol", help="Relative tolerance on other runtimes (openvino, ncnn)."
    ),
    runtime_atol: float = typer.Option(
        1e-4, "--runtime-atol", help="Absolute tolerance on other runtimes (openvino, ncnn)."
    ),
    samples: int = typer.Option(2, "--samples", "-n", help="Generated input samples."),
    seed: int = typer.Option(0, "--seed", help="Seed of the generated inputs."),
    backend: list[str] | None = typer.Option(
        None,
        "--backend",
        "-b",
        help="Runtime(s) to compare and time the fixed model on (default: onnxruntime, plus the "
        "target itself when it is a runtime here).",
        show_default=False,
    ),
    iterations: int = typer.Option(20, "--iterations", help="Bench iterations (0 skips bench)."),
    split_postprocess: bool = typer.Option(
        True,
        "--split-postprocess/--no-split-postprocess",
        help="When NMS-like post-processing (data-dependent shapes) blocks the target, cut it "
        "off to OUTPUT/<model>.<target>.post.onnx for the host; the device part is compared.",
    ),
    precision: str | None = typer.Option(
        None,
        "--precision",
        help="The number format to verify the fixed model in: fp32, fp16, bf16 or int8 (default: "
        "the target's device format, e.g. fp16 emulated for ascend310). A model that breaks in "
        "it gets the smallest verified set of nodes kept in fp32 (Ascend: "
        "OUTPUT/<model>.<target>.keep_dtype.cfg on the atc line).",
        show_default=False,
    ),
    json_out: bool = JSON_OPT,
) -> None:
    """Check MODEL against TARGET, fix it with verified rewrites, re-check, compare and time it.

    Rewrites are proven on ONNX Runtime at --rtol/--atol; the other runtimes are compared with
    the original at --runtime-rtol/--runtime-atol. Writes OUTPUT/<model>.<target>.onnx, OUTPUT/report.json and OUTPUT/report.html; for
    runtime targets (openvino, ncnn) also the converted artifact. For Ascend targets prints
    the matching `atc` command. Exit 0 when the fixed model is deployable and matches the
    original, 1 when not, 2 on bad input. MODEL may be the buckets.json of a shape-bucket
    export: every bucket is ported into OUTPUT/<bucket>/.
    """
    if model.suffix.lower() == ".json":  # a buckets.json from `nnport export --shape ... --shape`
        from nnport.cli.port_buckets import port_buckets

        def one(bucket: Path, folder: Path) -> None:
            # each bucket renders as text (redirected in --json mode: the summary is the JSON)
            port_cmd(bucket, target, folder, input_shape, inputs, rtol, atol, runtime_rtol,
                     runtime_atol, samples, seed, backend, iterations, split_postprocess,
                     precision, False)  # fmt: skip

        raise typer.Exit(port_buckets(model, output, json_out, one))
    from nnport.model import load, resolve_input_shapes
    from nnport.model.io import check_output_path
    from nnport.pipeline import PortOptions, port
    from nnport.report.port import render_port
    from nnport.targets import load_target
    from nnport.targets.registry import canonical_name

    if min(rtol, atol, runtime_rtol, runtime_atol) < 0:
        raise UsageError("tolerances must be >= 0")
    if samples < 1:
        raise UsageError("--samples must be at least 1")
    output = output_folder(output)  # a file, or a folder that takes no files: before any work
    check_output_path(output, [model])
    load_target(target)  # an unknown target fails before any work
    target = canonical_name(target)  # `-t OpenVINO` names the shipped openvino profile
    if precision is not None:
        from nnport.precision.formats import get_format

        precision = get_format(precision).name  # an unknown format fails before any work
    loaded = load(model)
    refuse_unknown_opset(loaded, model)
    shapes = resolve_input_shapes(loaded, input_specs(input_shape))
    options = PortOptions(
        input_shapes=shapes or None,
        inputs=str(inputs) if inputs else None,
        rtol=rtol,
        atol=atol,
        runtime_rtol=runtime_rtol,
        runtime_atol=runtime_atol,
        samples=samples,
        seed=seed,
        backends=split_names(backend),
        bench_iterations=iterations,
        split_postprocess=split_postprocess,
        verify_precision=precision,
    )
    with Status("starting", console=err_console) as status:
        result = port(loaded, target, output, options, progress=lambda text: status.update(text))
    _write_reports(result, output)
    if json_out:
        emit_json(result)
    else:
        console.print(render_port(result))
        console.print(f"reports: {output / 'report.json'}, {output / 'report.html'}")
        if result.atc_command:
            console.print("convert on the Ascend toolkit with (one line):")
            console.print(result.atc_command, soft_wrap=True, markup=False, highlight=False)
    raise typer.Exit(0 if result.ok else 1)


def _write_reports(result: PortResult, output: Path) -> None:
    from nnport.model.io import atomic_path
    from nnport.report.html import render_html

    for name, text in (("report.json", dumps(result) + "\n"), ("report.html", render_html(result))):
        with atomic_path(output / name) as tmp:
            # a non-UTF-8 file name is in the text as surrogates: written escaped (\udcff)
            tmp.write_text(text, encoding="utf-8", errors="backslashreplace")


def register(app: typer.Typer) -> None:
    """Add the ``port`` verb."""
    app.command("port")(port_cmd)
