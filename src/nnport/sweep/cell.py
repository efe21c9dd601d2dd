"""Run one sweep cell through its verb's own library function and return its row."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nnport.errors import NnportError, UsageError
from nnport.sweep.plan import Cell, nnport_version, option_class

# Fault injection for resilience tests: "segfault:NAME" makes a cell on the model file NAME kill
# its own worker with SIGSEGV, as a native runtime crash would (tests/test_sweep.py).
FAULT_ENV = "NNPORT_SWEEP_FAULT"


# The options field each verb reads its number format from (check reports the target's own).
PRECISION_FIELDS = {"fix": "precision", "port": "verify_precision", "compare": "precision",
                    "bench": "precision", "evaluate": "precisions"}  # fmt: skip


def _options(cell: Cell) -> Any:
    cls = option_class(cell.verb)
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in cell.options.items()}
    field = PRECISION_FIELDS.get(cell.verb)
    if field and field in {f.name for f in dataclasses.fields(cls)}:
        values[field] = (cell.precision,) if field == "precisions" else cell.precision
    elif cell.precision not in ("fp32", "default"):
        raise UsageError(f"{cell.verb} takes no number format: run it at fp32")
    return cls(**values)


def _check(cell: Cell, model: Any, out: Path) -> tuple[Any, bool]:
    from nnport.check import check

    shapes = cell.options.get("input_shapes")
    report = check(model, cell.target, input_shapes=shapes)
    return report, report.deployable


def _fix(cell: Cell, model: Any, out: Path) -> tuple[Any, bool]:
    from nnport.passes import fix

    result = fix(model, cell.target, options=_options(cell))
    return result.without_model(), result.deployable and result.verified


def _port(cell: Cell, model: Any, out: Path) -> tuple[Any, bool]:
    from nnport.pipeline import port

    result = port(model, cell.target, out, _options(cell))
    return result, result.ok


def _compare(cell: Cell, model: Any, out: Path) -> tuple[Any, bool]:
    from nnport.verify.compare import compare

    result = compare(model, backend=cell.target, options=_options(cell))
    return result, result.passed


def _bench(cell: Cell, model: Any, out: Path) -> tuple[Any, bool]:
    from nnport.bench.run import bench

    result = bench(model, (cell.target,), _options(cell))
    return result, all(t.error is None for t in result.timings)


def _evaluate(cell: Cell, model: Any, out: Path) -> tuple[Any, bool]:
    from nnport.verify.evaluate import evaluate

    options = dataclasses.replace(_options(cell), backends=(cell.target,))
    result = evaluate(cell.model, options)
    return result, result.all_agree


VERB_RUNNERS: dict[str, Callable[[Cell, Any, Path], tuple[Any, bool]]] = {
    "check": _check,
    "fix": _fix,
    "port": _port,
    "compare": _compare,
    "bench": _bench,
    "evaluate": _evaluate,
}


def row(cell: Cell, status: str, verdict: str, detail: str = "", **extra: Any) -> dict[str, Any]:
    """One line of results.jsonl."""
    return {
        "key": cell.key,
        "model": cell.model,
        "model_sha256": cell.model_sha256,
        "target": cell.target,
        "precision": cell.precision,
        "verb": cell.verb,
        "options": cell.options,
        "status": status,  # done: the verb gave its answer; failed: crash, timeout, error
        "verdict": verdict,  # pass, fail (a negative answer), error (bad input, failure)
        "detail": detail,
        "nnport": nnport_version(),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **extra,
    }


def run_cell(cell: Cell, model_path: str, out_dir: str, fault: str = "") -> dict[str, Any]:
    """Run ``cell`` on the model file at ``model_path`` (the plan's file, or a copy the worker
    received); results and artifacts go under ``out_dir`` (the cell's own folder). ``fault``:
    the driver's ``NNPORT_SWEEP_FAULT`` (tests only)."""
    from nnport.model.io import SOURCE_PATH_KEY, load
    from nnport.results import dumps

    if fault == f"segfault:{Path(cell.model).name}":
        os.kill(os.getpid(), signal.SIGSEGV)
    start = time.perf_counter()
    out = Path(out_dir)
    try:
        model = load(model_path)
        model.meta[SOURCE_PATH_KEY] = cell.model  # the plan's file, not a worker's copy
        result, passed = VERB_RUNNERS[cell.verb](cell, model, out)
    except NnportError as exc:  # the verb's own answer to bad input: final, not retried
        return row(cell, "done", "error", exc.one_line(), seconds=_since(start))
    except Exception as exc:  # an internal error: recorded failed, run again next time
        return row(cell, "failed", "error", f"{type(exc).__name__}: {exc}", seconds=_since(start))
    out.mkdir(parents=True, exist_ok=True)
    text = dumps(result, indent=None)
    (out / "result.json").write_text(text + "\n", encoding="utf-8")
    return row(
        cell,
        "done",
        "pass" if passed else "fail",
        seconds=_since(start),
        result_type=type(result).__name__,
        result=json.loads(text),
    )


def _since(start: float) -> float:
    return round(time.perf_counter() - start, 3)
