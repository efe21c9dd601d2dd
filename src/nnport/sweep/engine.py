"""Run a plan's cells as Ray tasks: a local instance sized to the machine, or a cluster; rows are
recorded as each cell finishes, finished cells are skipped on a rerun, and a cell that crashes
its worker, runs out of memory or passes its deadline is recorded failed while the sweep goes on."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnport.errors import BackendUnavailableError, UsageError
from nnport.sweep.cell import FAULT_ENV, row, run_cell
from nnport.sweep.plan import Cell, Plan, expand
from nnport.sweep.results import ResultsFile, finished_keys, keep_only, read_rows

logger = logging.getLogger(__name__)

SHIP_MODES = ("auto", "path", "object-store")
# Models up to this size travel through Ray's object store in "auto" mode.
OBJECT_STORE_LIMIT = 64 << 20
Progress = Callable[[int, int, dict[str, Any]], None]


@dataclass(frozen=True)
class SweepOptions:
    """Where and how cells run: cluster address or local CPUs, per-cell resources and deadline,
    how models reach the workers."""

    address: str | None = None  # an existing cluster (also RAY_ADDRESS); None: start one here
    cpus: int | None = None  # CPUs of the local instance (None: all of this machine's)
    cpus_per_cell: float = 1.0
    memory_per_cell: int | None = None  # bytes Ray reserves per cell (scheduling)
    timeout: float = 1800.0  # seconds a cell may run
    ship: str = "auto"  # path (shared storage), object-store, auto (object store when small)
    retries: int = 1  # reruns of a cell whose node died or whose worker crashed


@dataclass(frozen=True)
class SweepResult:
    """What a sweep did: cells in the plan, cells already finished, rows written this run."""

    plan: str
    out: str
    cells: int
    already_done: int
    left_out: int
    ran: int
    failed: int
    passed: int
    seconds: float
    rows: tuple[dict[str, Any], ...] = ()


def require_ray() -> Any:
    """The ray module, with its usage statistics switched off, or a one-line error."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nnport sends nothing anywhere
    os.environ.setdefault("RAY_DISABLE_IMPORT_WARNING", "1")
    try:
        import ray
    except ImportError as exc:
        raise BackendUnavailableError(
            "nnport sweep needs Ray", hint="pip install 'nnport[ray]'"
        ) from exc
    return ray


def _task(cell_json: str, model: Any, out_dir: str, fault: str) -> dict[str, Any]:
    """The Ray task: a model path on shared storage, or the model's bytes from the object store."""
    cell = Cell(**json.loads(cell_json))
    if isinstance(model, (bytes, bytearray, memoryview)):
        with tempfile.TemporaryDirectory(prefix="nnport-sweep-") as tmp:
            path = Path(tmp) / Path(cell.model).name
            path.write_bytes(bytes(model))
            return run_cell(cell, str(path), out_dir, fault)
    return run_cell(cell, str(model), out_dir, fault)


def _ships_bytes(model: str, mode: str) -> bool:
    if mode == "path":
        return False
    if mode == "object-store":
        return True
    size = Path(model).stat().st_size
    has_external = any(Path(model).parent.glob(f"{Path(model).name}.data"))
    return size <= OBJECT_STORE_LIMIT and not has_external


def _one_machine(ray: Any) -> bool:
    """True when every node of the Ray instance is this machine (a local instance)."""
    try:
        return len({n.get("NodeManagerAddress") for n in ray.nodes() if n.get("Alive")}) <= 1
    except Exception:  # an older Ray without node listing: ship bytes, which always works
        return False


def _failure(ray: Any, exc: BaseException) -> str:
    """A one-line reason for a task that did not return."""
    if isinstance(exc, ray.exceptions.OutOfMemoryError):
        return "out of memory: Ray killed the worker"
    if isinstance(exc, ray.exceptions.WorkerCrashedError):
        return "the worker crashed (a native crash such as a runtime segfault)"
    if isinstance(exc, ray.exceptions.NodeDiedError):
        return "its node died"
    if isinstance(exc, ray.exceptions.TaskCancelledError):
        return "cancelled"
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:500]


def _connect(ray: Any, options: SweepOptions) -> bool:
    """Connect to the cluster or start a local instance; True when this call started Ray."""
    if ray.is_initialized():
        return False
    address = options.address or os.environ.get("RAY_ADDRESS") or None
    # Ray's own notices (token authentication on a local instance, ...) stay off stderr.
    common: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    try:
        if address:
            ray.init(address=address, **common)
        else:
            ray.init(num_cpus=options.cpus or os.cpu_count() or 1, include_dashboard=False,
                     **common)  # fmt: skip
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise UsageError(f"cannot start or join Ray at {address or 'this machine'}: {exc}") from exc
    return True


def run_sweep(
    plan: Plan,
    out_dir: str | Path,
    options: SweepOptions | None = None,
    *,
    progress: Progress | None = None,
) -> SweepResult:
    """Run every cell of ``plan`` not yet finished in ``out_dir``; rows go to results.jsonl."""
    options = options or SweepOptions()
    if options.ship not in SHIP_MODES:
        raise UsageError(f"unknown ship mode {options.ship!r}", hint=", ".join(SHIP_MODES))
    if plan.timeout is not None:
        options = dataclasses.replace(options, timeout=plan.timeout)
    start = time.perf_counter()
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    cells, left_out = expand(plan)
    previous = read_rows(out)
    done = finished_keys(previous)
    todo = [c for c in cells if c.key not in done]
    redo = {c.key for c in todo}
    if any(r["key"] in redo for r in previous):
        keep_only(out, [r for r in previous if r["key"] not in redo])
    ray = require_ray()
    started = _connect(ray, options)
    if options.ship == "auto" and _one_machine(ray):  # every worker sees the plan's files
        options = dataclasses.replace(options, ship="path")
    written: list[dict[str, Any]] = []
    results = ResultsFile(out)
    try:
        written = _drive(ray, todo, out, options, results, progress)
    finally:
        results.close()
        if started:
            ray.shutdown()
    return SweepResult(
        plan=plan.path,
        out=str(out),
        cells=len(cells),
        already_done=len(cells) - len(todo),
        left_out=left_out,
        ran=len(written),
        failed=sum(r["status"] == "failed" for r in written),
        passed=sum(r["verdict"] == "pass" for r in written),
        seconds=round(time.perf_counter() - start, 2),
        rows=tuple(written),
    )


def _drive(
    ray: Any,
    todo: list[Cell],
    out: Path,
    options: SweepOptions,
    results: ResultsFile,
    progress: Progress | None,
) -> list[dict[str, Any]]:
    resources: dict[str, Any] = {"num_cpus": options.cpus_per_cell, "max_retries": options.retries}
    if options.memory_per_cell:
        resources["memory"] = options.memory_per_cell
    remote = ray.remote(**resources)(_task)
    slots = max(1, int(ray.cluster_resources().get("CPU", 1) // options.cpus_per_cell))
    shipped: dict[str, Any] = {}
    fault = os.environ.get(FAULT_ENV, "")
    queue = list(todo)
    pending: dict[Any, tuple[Cell, float]] = {}
    written: list[dict[str, Any]] = []

    def record(entry: dict[str, Any]) -> None:
        results.append(entry)
        written.append(entry)
        if progress is not None:
            progress(len(written), len(todo), entry)

    try:
        while queue or pending:
            while queue and len(pending) < slots:  # bounded: a deadline runs from submission
                cell = queue.pop(0)
                model: Any = cell.model
                if _ships_bytes(cell.model, options.ship):
                    if cell.model not in shipped:
                        shipped[cell.model] = ray.put(Path(cell.model).read_bytes())
                    model = shipped[cell.model]
                cell_json = json.dumps(dataclasses.asdict(cell))
                ref = remote.remote(cell_json, model, str(out / "cells" / cell.key), fault)
                pending[ref] = (cell, time.monotonic())
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            if ready:  # and every other cell already finished, in the same round
                more, _ = ray.wait([r for r in pending if r not in ready],
                                   num_returns=len(pending) - len(ready), timeout=0)  # fmt: skip
                ready += more
            for ref in ready:
                cell, _t = pending.pop(ref)
                try:
                    record(ray.get(ref))
                except Exception as exc:  # the task did not return: crash, OOM, node loss
                    record(row(cell, "failed", "error", _failure(ray, exc)))
            now = time.monotonic()
            for ref, (cell, since) in list(pending.items()):
                if now - since > options.timeout:
                    ray.cancel(ref, force=True)
                    del pending[ref]
                    record(row(cell, "failed", "error", f"timed out after {options.timeout:g} s"))
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    return written
