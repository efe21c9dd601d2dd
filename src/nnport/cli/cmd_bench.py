"""``nnport bench``: latency percentiles and throughput of a model on one or more backends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from nnport.cli.common import (
    INPUT_SHAPE_OPT,
    JSON_OPT,
    MODEL_ARG,
    console,
    emit_json,
    err_console,
    input_specs,
    split_names,
)

BACKEND_OPT = typer.Option(
    "onnxruntime", "--backend", "-b", help="Backends, comma-separated (onnxruntime,openvino,ncnn)."
)
PRECISION_OPT = typer.Option(
    None,
    "--precision",
    help="Number format fp32|fp16|bf16|int8: natively where the backend computes in it "
    "(OpenVINO's hint where the CPU has the unit, ncnn fp16), else emulated on ONNX Runtime "
    "(then the time is the emulation's, not the device's).",
    show_default=False,
)


def bench_cmd(
    model: Path = MODEL_ARG,
    backend: str = BACKEND_OPT,
    batch: int = typer.Option(
        1, "--batch", help="Batch size (the model needs a dynamic batch axis)."
    ),
    threads: int | None = typer.Option(
        None, "--threads", help="Threads per backend.", show_default=False
    ),
    warmup: int = typer.Option(5, "--warmup", help="Untimed warm-up runs per backend."),
    iterations: int | None = typer.Option(
        None, "--iterations", help="Timed runs per backend (default 50).", show_default=False
    ),
    seconds: float | None = typer.Option(
        None,
        "--seconds",
        help="Time budget per backend instead of --iterations.",
        show_default=False,
    ),
    precision: str | None = PRECISION_OPT,
    input_shape: list[str] | None = INPUT_SHAPE_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Time MODEL on each backend: latency mean/p50/p90/p99 and throughput, in one table."""
    from nnport.bench import BenchOptions, bench
    from nnport.model import load, resolve_input_shapes
    from nnport.precision.formats import get_format
    from nnport.report.bench import render_bench

    source = load(model)
    shapes = resolve_input_shapes(source, input_specs(input_shape))
    names = split_names(backend)
    per_backend: dict[str, dict[str, Any]] = {}
    fmt = get_format(precision).name if precision is not None else None
    options = BenchOptions(
        batch=batch,
        threads=threads,
        warmup=warmup,
        iterations=iterations,
        seconds=seconds,
        input_shapes=shapes or None,
        backend_options=per_backend,
        precision=fmt,
    )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=json_out and not err_console.is_terminal,
    ) as bar:
        tasks: dict[str, Any] = {}

        def progress(name: str, done: int, total: int | None) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=done)

        result = bench(source, names, options, progress=progress)
    if json_out:
        emit_json(result)
    else:
        console.print(render_bench(result))
    if any(t.error for t in result.timings):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``bench`` verb."""
    app.command("bench")(bench_cmd)
