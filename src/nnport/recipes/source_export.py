"""What every framework source shares on its way to ONNX: input specs with valid data, the
check of the converted model against the source's own forward pass, shape buckets and their
manifest, and the atomic write of every file only once all are verified."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx_ir as ir

from nnport.errors import ModelSaveError, ToleranceExceededError, UsageError
from nnport.model.io import atomic_path, save
from nnport.recipes.export import ExportedModel

MANIFEST = "buckets.json"
logger = logging.getLogger(__name__)
# A source's forward pass: named numpy inputs in the source's layout -> outputs in order.
Forward = Callable[[dict[str, np.ndarray]], list[np.ndarray]]


@dataclass(frozen=True)
class InputSpec:
    """One input of a source model: name, shape and dtype; integers get values in [low, high)."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    low: int = 0
    high: int | None = None


@dataclass(frozen=True)
class Timing:
    """A source's first call and its steady-state calls (MindSpore compiles on the first)."""

    first_call_s: float
    steady_call_s: float
    note: str = ""


def parse_input_shapes(text: str, names: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """``'x:1x3x8x8,idx:1x8'`` (names as the source calls its inputs) or ``'1x3x8x8'`` for a
    one-input model."""
    from nnport.model.specs import parse_input_shape

    shapes: dict[str, tuple[int, ...]] = {}
    for part in [p for p in text.split(",") if p.strip()]:
        spec = parse_input_shape(part.strip())
        if spec.name is None:
            if len(names) != 1:
                raise UsageError(
                    f"--shape {part!r} names no input and the model has {len(names)}",
                    hint=f"name each: {','.join(f'{n}:...' for n in names)}",
                )
            shapes[names[0]] = spec.shape
        elif spec.name not in names:
            raise UsageError(f"--shape names {spec.name!r}; the model's inputs: {', '.join(names)}")
        else:
            shapes[spec.name] = spec.shape
    missing = [n for n in names if n not in shapes]
    if missing:
        raise UsageError(f"--shape gives no shape for input {missing[0]!r}")
    return shapes


def sample_inputs(specs: Sequence[InputSpec], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Seeded data for each input: normal floats, integers that are valid indices."""
    feeds = {}
    for spec in specs:
        if np.dtype(spec.dtype).kind in "iu":
            high = spec.high if spec.high is not None else max(1, min(spec.shape or (2,)))
            feeds[spec.name] = rng.integers(spec.low, high, spec.shape).astype(spec.dtype)
        elif np.dtype(spec.dtype).kind == "b":
            feeds[spec.name] = rng.integers(0, 2, spec.shape).astype(bool)
        else:
            feeds[spec.name] = rng.standard_normal(spec.shape).astype(spec.dtype)
    return feeds


def verify(
    model: ir.Model,
    forward: Forward,
    specs: Sequence[InputSpec],
    *,
    to_onnx: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] = lambda f: f,
    rtol: float = 1e-4,
    atol: float = 1e-5,
    samples: int = 2,
    seed: int = 0,
) -> tuple[float, float]:
    """Run the source and ONNX Runtime on the same seeded inputs (``to_onnx`` maps the source's
    feeds to the ONNX model's, e.g. NHWC to NCHW); raise if any output differs."""
    from nnport.backends import make_runner

    rng = np.random.default_rng(seed)
    max_abs = max_rel = 0.0
    names = [o.name or "" for o in model.graph.outputs]
    with make_runner("onnxruntime", model) as runner:
        for _ in range(samples):
            feeds = sample_inputs(specs, rng)
            expected = forward(feeds)
            got = runner.infer(to_onnx(feeds))
            outputs = [got[n] for n in names]
            if len(outputs) != len(expected):
                raise ToleranceExceededError(
                    f"the ONNX model has {len(outputs)} outputs, the source {len(expected)}",
                    hint="nothing was written",
                )
            for index, (a, b) in enumerate(zip(outputs, expected, strict=True)):
                b = np.asarray(b)
                if a.shape != b.shape:
                    raise ToleranceExceededError(
                        f"output {index}: ONNX shape {a.shape}, source {b.shape}",
                        hint="nothing was written",
                    )
                diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
                max_abs = max(max_abs, float(diff.max(initial=0.0)))
                rel = diff / np.maximum(np.abs(b.astype(np.float64)), 1e-12)
                max_rel = max(max_rel, float(rel.max(initial=0.0)))
                if not np.allclose(a, b, rtol=rtol, atol=atol):
                    raise ToleranceExceededError(
                        f"the ONNX model differs from the source in output {index}: max abs "
                        f"diff {max_abs:.3g} beyond rtol={rtol} atol={atol}",
                        hint="nothing was written",
                    )
    return max_abs, max_rel


def bucket_path(out: Path, shapes: dict[str, tuple[int, ...]], several: bool) -> Path:
    """OUT itself for one model; OUT_1x3x512x512.onnx (first input's shape) for each bucket."""
    if not several:
        return out
    tag = "_".join("x".join(str(d) for d in s) for s in shapes.values())
    return out.with_name(f"{out.stem}_{tag}{out.suffix or '.onnx'}")


def write_all(
    prepared: Sequence[tuple[Path, ir.Model, ExportedModel, dict[str, tuple[int, ...]]]],
    source: str,
    tolerance: tuple[float, float],
) -> str:
    """Write every verified model (each atomically), and for several a ``buckets.json``
    manifest beside them; returns the manifest's path ('' for one model)."""
    if not prepared:
        raise ModelSaveError("nothing to write")
    for path, model, _, _ in prepared:
        save(model, path)
    if len(prepared) == 1:
        return ""
    manifest = prepared[0][0].parent / MANIFEST
    data = {
        "source": source,
        "source_sha256": _sha256(source),
        "rtol": tolerance[0],
        "atol": tolerance[1],
        "buckets": [
            {
                "shapes": {k: list(v) for k, v in shapes.items()},
                "file": path.name,
                "max_abs_diff": entry.max_abs_diff,
                "tolerance_met": True,
            }
            for path, _, entry, shapes in prepared
        ],
    }
    with atomic_path(manifest) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return str(manifest)


def _sha256(source: str) -> str:
    path = Path(source)
    if not path.is_file():
        return ""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def timed_calls(call: Callable[[], object], steady: int = 3) -> Timing:
    """Time the first call and the mean of ``steady`` more."""
    start = time.perf_counter()
    call()
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steady):
        call()
    per = (time.perf_counter() - start) / max(steady, 1)
    note = ""
    if first > 5 * per and first - per > 0.5:
        note = (
            f"the first call took {first:.2f} s against {per:.3f} s for the next ones: that is "
            "graph compilation, paid once per input shape (docs/sources.md)"
        )
    return Timing(round(first, 4), round(per, 4), note)


@contextlib.contextmanager
def native_stderr_quiet() -> Iterator[None]:
    """Send what native code writes to file descriptor 2 to /dev/null for the block (framework
    start-up notices: CUDA probes, absl); kept when nnport logs at INFO or below (--verbose)."""
    if logging.getLogger("nnport").getEffectiveLevel() <= logging.INFO:
        yield
        return
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
