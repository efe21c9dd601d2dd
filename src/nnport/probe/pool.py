"""Probe worker pool: runs tasks in restartable worker subprocesses, with an optional journal."""

from __future__ import annotations

import json
import os
import queue
import select
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nnport.probe.outcomes import CaseOutcome, ProgressCallback, Task


class _Worker:
    """One probe_worker subprocess; restarted after it dies or hangs."""

    def __init__(self, backend: str, options: dict[str, Any], log: Path | None) -> None:
        self._argv = [
            sys.executable,
            "-m",
            "nnport.probe.worker",
            backend,
            json.dumps(options),
        ]
        self._log = log
        self._proc: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", "1")
        stderr = self._log.open("ab") if self._log else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(
                self._argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env
            )
        finally:
            if self._log:
                stderr.close()  # type: ignore[union-attr]
        return proc

    def run(self, task: Task, timeout: float) -> CaseOutcome:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = self._start()
        proc = self._proc
        assert proc.stdin is not None and proc.stdout is not None
        line = json.dumps({"id": task.id, "model": str(task.model), "data": str(task.data),
                           "rtol": task.rtol, "atol": task.atol,
                           "loose_dtype": task.loose_dtype})  # fmt: skip
        start = time.perf_counter()
        try:
            proc.stdin.write(line.encode() + b"\n")
            proc.stdin.flush()
        except OSError:
            pass  # the worker died; reading below reports it
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        if not ready:
            self.close(kill=True)
            return task.outcome("timeout", "run", f"no answer after {timeout:.0f} s", timeout)
        answer = proc.stdout.readline()
        elapsed = time.perf_counter() - start
        if not answer:
            code = proc.wait()
            self._proc = None
            why = f"worker died with signal {-code}" if code < 0 else f"worker exited with {code}"
            return task.outcome("crash", "run", why, elapsed)
        result = json.loads(answer)
        return task.outcome(result["status"], result.get("stage", ""), result.get("message", ""),
                            float(result.get("seconds", elapsed)))  # fmt: skip

    def close(self, kill: bool = False) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if kill:
            proc.kill()
        else:
            assert proc.stdin is not None
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_tasks(
    tasks: Sequence[Task],
    backend: str,
    options: dict[str, Any],
    *,
    workers: int = 1,
    timeout: float = 60.0,
    progress: ProgressCallback | None = None,
    log: Path | None = None,
) -> list[CaseOutcome]:
    """Run ``tasks`` on ``workers`` worker processes; results come back in task order."""
    pending: queue.Queue[int] = queue.Queue()
    for i in range(len(tasks)):
        pending.put(i)
    results: list[CaseOutcome | None] = [None] * len(tasks)
    done = [0]
    lock = threading.Lock()

    def serve() -> None:
        worker = _Worker(backend, options, log)
        try:
            while True:
                try:
                    i = pending.get_nowait()
                except queue.Empty:
                    return
                outcome = worker.run(tasks[i], timeout)
                with lock:
                    results[i] = outcome
                    done[0] += 1
                    if progress:
                        progress(done[0], len(tasks), outcome)
        finally:
            worker.close()

    threads = [threading.Thread(target=serve, daemon=True) for _ in range(max(1, workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [r for r in results if r is not None]


def _read_journal(journal: Path | None) -> dict[str, CaseOutcome]:
    """Outcomes an interrupted probe already recorded (``id -> outcome``)."""
    from nnport.results import from_jsonable

    done: dict[str, CaseOutcome] = {}
    if journal is None or not journal.exists():
        return done
    for line in journal.read_text().splitlines():
        try:
            outcome = from_jsonable(CaseOutcome, json.loads(line))
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short when the probe was interrupted
        done[f"{outcome.case}@{outcome.opset}"] = outcome
    return done


def _journaling(progress: ProgressCallback | None, journal: Path | None) -> ProgressCallback | None:
    """Wrap ``progress`` so each finished run is also appended to ``journal``."""
    if journal is None:
        return progress
    from nnport.results import dumps

    def record(done: int, total: int, outcome: CaseOutcome) -> None:
        with journal.open("a") as fh:
            fh.write(dumps(outcome, indent=None) + "\n")
        if progress:
            progress(done, total, outcome)

    return record
