"""Time ``infer`` on each backend: warm-up, then a fixed count or a time budget of iterations."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import onnx_ir as ir

from nnport.backends import make_runner
from nnport.backends.base import Runner
from nnport.errors import NnportError, UsageError
from nnport.model.io import SOURCE_PATH_KEY
from nnport.model.specs import describe_value, graph_inputs
from nnport.precision.native import plan_precision
from nnport.verify.inputs import generate_inputs
from nnport.verify.precision import open_precision_runner

logger = logging.getLogger(__name__)

# progress(backend, done, total or None when running for a time budget)
Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class BenchOptions:
    """How to time: batch size, threads, warm-up runs, and iterations or seconds per backend."""

    batch: int = 1
    threads: int | None = None
    warmup: int = 5
    iterations: int | None = None
    seconds: float | None = None
    input_shapes: Mapping[str, tuple[int, ...]] | None = None
    backend_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    seed: int = 0
    precision: str | None = None  # fp32|fp16|bf16|int8: native where the backend has it

    def budget(self) -> tuple[int | None, float | None]:
        """(iterations, seconds): exactly one is set; 50 iterations when neither was given."""
        if self.iterations is not None and self.seconds is not None:
            raise UsageError("give --iterations or --seconds, not both")
        if self.iterations is None and self.seconds is None:
            return 50, None
        return self.iterations, self.seconds


@dataclass(frozen=True)
class BackendTiming:
    """Latency statistics of one backend (milliseconds per inference of one batch)."""

    backend: str
    config: dict[str, str]
    iterations: int
    batch: int
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    min_ms: float
    max_ms: float
    throughput: float
    error: str | None = None
    precision: str = "fp32"
    precision_mode: str = "native"


@dataclass(frozen=True)
class BenchResult:
    """Timings of every backend asked for, on the same inputs."""

    model: str
    batch: int
    input_shapes: dict[str, tuple[int, ...]]
    warmup: int
    timings: tuple[BackendTiming, ...]


def batched_shapes(model: ir.Model, options: BenchOptions) -> dict[str, tuple[int, ...]]:
    """Input shapes with ``options.batch`` on axis 0 (overrides from ``input_shapes`` win)."""
    given = dict(options.input_shapes or {})
    shapes: dict[str, tuple[int, ...]] = {}
    for value in graph_inputs(model):
        name = value.name or ""
        if name in given:
            shapes[name] = tuple(given[name])
            continue
        info = describe_value(value)
        if info.shape is None:
            raise UsageError(f"input {name!r} has an unknown rank; give --input-shape")
        dims = list(info.shape)
        if dims and not isinstance(dims[0], int):
            dims[0] = options.batch
        elif dims and dims[0] != options.batch:
            raise UsageError(
                f"input {name!r} has a fixed batch of {dims[0]}, so --batch {options.batch} "
                "cannot be used",
                hint="export the model with a dynamic batch axis, or use --input-shape",
            )
        if not all(isinstance(d, int) for d in dims):
            raise UsageError(
                f"input {name!r} has dynamic dims {info.shape_text()}",
                hint=f"give --input-shape {name}:...",
            )
        shapes[name] = tuple(int(d) for d in dims if isinstance(d, int))
    return shapes


def _stats(
    backend: str, config: dict[str, str], times: Sequence[float], batch: int
) -> BackendTiming:
    ms = np.asarray(times) * 1000.0
    mean = float(ms.mean())
    return BackendTiming(
        backend=backend,
        config=config,
        iterations=len(times),
        batch=batch,
        mean_ms=mean,
        p50_ms=float(np.percentile(ms, 50)),
        p90_ms=float(np.percentile(ms, 90)),
        p99_ms=float(np.percentile(ms, 99)),
        min_ms=float(ms.min()),
        max_ms=float(ms.max()),
        throughput=batch * 1000.0 / mean if mean > 0 else 0.0,
    )


def _runner_options(
    backend: str, options: BenchOptions, shapes: dict[str, tuple[int, ...]]
) -> dict[str, Any]:
    opts = dict(options.backend_options.get(backend, {}))
    if options.threads and backend != "reference":
        opts.setdefault("threads", options.threads)
    if backend == "ncnn":
        # ncnn blobs have no batch axis: convert one sample, the runner loops over the batch.
        opts.setdefault("input_shapes", {k: (1, *v[1:]) if v else v for k, v in shapes.items()})
    return opts


def bench(
    model: ir.Model,
    backends: Sequence[str],
    options: BenchOptions | None = None,
    *,
    progress: Progress | None = None,
) -> BenchResult:
    """Time every backend on the same generated batch; a backend that fails is reported, not fatal."""
    options = options or BenchOptions()
    if options.batch < 1 or options.warmup < 0:
        raise UsageError("--batch must be >= 1 and --warmup >= 0")
    iterations, seconds = options.budget()
    if (iterations is not None and iterations < 1) or (seconds is not None and seconds <= 0):
        raise UsageError("--iterations must be >= 1 and --seconds > 0")
    shapes = batched_shapes(model, options)
    (feed,) = generate_inputs(model, shapes, seed=options.seed)
    timings = []
    for backend in backends:
        try:
            timings.append(
                _bench_one(model, backend, feed, shapes, options, iterations, seconds, progress)
            )
        except NnportError as exc:
            logger.info("%s failed: %s", backend, exc.one_line())
            timings.append(_failed(backend, options.batch, exc.one_line()))
    return BenchResult(
        model=str(model.meta.get(SOURCE_PATH_KEY, "(in memory)")),
        batch=options.batch,
        input_shapes=shapes,
        warmup=options.warmup,
        timings=tuple(timings),
    )


def _failed(backend: str, batch: int, error: str) -> BackendTiming:
    nan = float("nan")
    return BackendTiming(
        backend=backend,
        config={},
        iterations=0,
        batch=batch,
        mean_ms=nan,
        p50_ms=nan,
        p90_ms=nan,
        p99_ms=nan,
        min_ms=nan,
        max_ms=nan,
        throughput=0.0,
        error=error,
    )


def _bench_one(
    model: ir.Model,
    backend: str,
    feed: dict[str, np.ndarray],
    shapes: dict[str, tuple[int, ...]],
    options: BenchOptions,
    iterations: int | None,
    seconds: float | None,
    progress: Progress | None,
) -> BackendTiming:
    runner_options = _runner_options(backend, options, shapes)
    plan = plan_precision(backend, options.precision) if options.precision else None
    if plan is None:
        runner_cm: Runner = make_runner(backend, model, **runner_options)
    else:
        if plan.emulated:  # ONNX Runtime runs the emulated model; ncnn's shapes do not apply
            runner_options = {k: v for k, v in runner_options.items() if k == "threads"}
        calibration = generate_inputs(model, shapes, samples=8, seed=options.seed + 1)
        runner_cm = open_precision_runner(
            plan, model, calibration=calibration, options=runner_options
        )
    with runner_cm as runner:
        for _ in range(options.warmup):
            runner.infer(feed)
        times: list[float] = []
        deadline = time.perf_counter() + seconds if seconds is not None else None
        while True:
            runner.infer(feed)
            times.append(runner.last_inference_time)
            if progress is not None:
                progress(backend, len(times), iterations)
            if iterations is not None and len(times) >= iterations:
                break
            if deadline is not None and time.perf_counter() >= deadline:
                break
        timing = _stats(backend, runner.config(), times, options.batch)
    if plan is not None:
        timing = replace(timing, precision=plan.precision, precision_mode=plan.mode)
    return timing
