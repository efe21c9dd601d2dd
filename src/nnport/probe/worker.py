"""Probe worker process: runs node-suite cases through one backend, one JSON line per case.

The probe runs every case in a separate process so a runtime that segfaults or aborts on a
strange graph kills only this worker; the parent records the case as crashed and starts a new
worker. Protocol: the parent writes one JSON task per line on stdin
(``{"id", "model", "data", "rtol", "atol"}``), the worker answers one JSON line per task on the
file descriptor that was stdout at start-up. Native libraries that print (pnnx, ncnn) are sent to
stderr so they cannot corrupt the protocol.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

# Stages a case can fail in, in order; "pass" means it converted, ran and matched.
STAGES = ("load", "convert", "run", "compare")


def _feeds(model: onnx.ModelProto, inputs: Sequence[Any]) -> dict[str, Any]:
    """Name the case's positional inputs after the graph inputs (as the ONNX backend runner does)."""
    initializers = {t.name for t in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in initializers]
    return dict(zip(names, inputs, strict=False))


def _options(backend: str, options: dict[str, Any], feeds: dict[str, Any]) -> dict[str, Any]:
    """Backend options for one case; ncnn needs the concrete input shapes."""
    opts = dict(options)
    if backend == "ncnn":
        opts.setdefault(
            "input_shapes",
            {k: tuple(int(d) for d in np.shape(v)) for k, v in feeds.items() if v is not None},
        )
    return opts


def compare_outputs(
    expected: Sequence[Any],
    actual: Sequence[Any],
    rtol: float,
    atol: float,
    loose_dtype: bool = False,
) -> str:
    """'' when ``actual`` matches ``expected`` by the ONNX backend runner's rule, else why not.

    Same rule as ``onnx.backend.test.runner.Runner.assert_similar_outputs``: equal count, shape
    and dtype, then ``assert_allclose(rtol, atol)`` (exact equality for strings).
    """
    if len(actual) != len(expected):
        return f"{len(actual)} outputs, expected {len(expected)}"
    for i, (ref, out) in enumerate(zip(expected, actual, strict=True)):
        if isinstance(ref, (list, tuple)):
            if not isinstance(out, (list, tuple)):
                return f"output {i} is {type(out).__name__}, expected a sequence"
            why = compare_outputs(ref, out, rtol, atol, loose_dtype)
            if why:
                return f"output {i}: {why}"
            continue
        if ref is None or out is None:
            if ref is not out:
                return f"output {i} is {out!r}, expected {ref!r}"
            continue
        out = np.asarray(out)
        if out.shape != ref.shape:
            return f"output {i} has shape {out.shape}, expected {ref.shape}"
        if ref.dtype == object:
            if not np.array_equal(out, ref):
                return f"output {i} differs"
            continue
        if loose_dtype and out.dtype != ref.dtype and out.dtype.kind in "biuf":
            out = out.astype(ref.dtype)  # e.g. int32 labels where the reference has int64
        if out.dtype != ref.dtype:
            return f"output {i} has dtype {out.dtype}, expected {ref.dtype}"
        r = rtol
        if out.dtype.name == "bfloat16":
            r = max(rtol, 2**-6)
            out, ref = out.astype(np.float32), ref.astype(np.float32)
        try:
            np.testing.assert_allclose(out, ref, rtol=r, atol=atol)
        except AssertionError as exc:
            lines = [
                ln.strip() for ln in str(exc).splitlines() if "Max abs" in ln or "Mismatch" in ln
            ]
            return f"output {i} differs: {'; '.join(lines)[:200]}"
        except TypeError as exc:
            return f"output {i} cannot be compared: {exc}"
    return ""


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def run_case(
    backend: str,
    options: dict[str, Any],
    model_path: Path,
    data_path: Path,
    rtol: float,
    atol: float,
    loose_dtype: bool = False,
) -> dict[str, Any]:
    """Convert, run and compare one case; returns ``{"status", "stage", "message"}``."""
    from nnport.backends import make_runner

    try:
        model = onnx.load(str(model_path))
        with data_path.open("rb") as fh:
            inputs, expected = pickle.load(fh)  # our own temp file, written by the parent
    except Exception as exc:
        return {"status": "error", "stage": "load", "message": _first_line(exc)}
    feeds = _feeds(model, inputs)
    runner = make_runner(backend, model_path, **_options(backend, options, feeds))
    try:
        runner.__enter__()
    except Exception as exc:
        return {"status": "fail", "stage": "convert", "message": _first_line(exc)}
    try:
        try:
            got = runner.infer(feeds)
        except Exception as exc:
            return {"status": "fail", "stage": "run", "message": _first_line(exc)}
        names = [o.name for o in model.graph.output]
        missing = [n for n in names if n not in got]
        if missing:
            return {"status": "fail", "stage": "run", "message": f"no output named {missing[0]!r}"}
        why = compare_outputs(expected, [got[n] for n in names], rtol, atol, loose_dtype)
        if why:
            return {"status": "fail", "stage": "compare", "message": why}
        return {"status": "pass", "stage": "", "message": ""}
    finally:
        try:
            runner.__exit__(None, None, None)
        except Exception:
            logging.getLogger(__name__).debug("runner cleanup failed", exc_info=True)


def main(argv: Sequence[str]) -> int:
    """Serve tasks from stdin until EOF: ``probe_worker BACKEND OPTIONS_JSON``."""
    backend, options = argv[0], json.loads(argv[1]) if len(argv) > 1 else {}
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything native code prints goes to stderr, not into the protocol
    sys.stdout = sys.stderr
    workdir = tempfile.mkdtemp(prefix="nnport-probe-worker-")
    os.chdir(workdir)  # converters that drop files next to the cwd drop them here
    try:
        _serve(backend, options, proto)
    finally:
        os.chdir(tempfile.gettempdir())
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _serve(backend: str, options: dict[str, Any], proto: Any) -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        task = json.loads(line)
        if task["id"] == os.environ.get("NNPORT_PROBE_ABORT_ON"):
            os.abort()  # fault injection for the probe's crash-recovery test: a real SIGABRT
        start = time.perf_counter()
        try:
            result = run_case(
                backend,
                options,
                Path(task["model"]),
                Path(task["data"]),
                float(task["rtol"]),
                float(task["atol"]),
                bool(task.get("loose_dtype", False)),
            )
        except Exception as exc:  # a bug in the harness or runner: record it, keep serving
            result = {"status": "error", "stage": "harness", "message": _first_line(exc)}
        result["id"] = task["id"]
        result["seconds"] = round(time.perf_counter() - start, 4)
        proto.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    sys.exit(main(sys.argv[1:]))
