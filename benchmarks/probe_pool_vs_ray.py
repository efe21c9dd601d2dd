"""Why ``targets probe`` keeps its own worker pool on one machine: the same node-suite cases run
through the probe's pool (long-lived worker processes fed over a pipe) and as one Ray task each
(what ``nnport sweep`` does), both with the same number of CPUs, in the same script.

A probe case is small (a one-node model, milliseconds of work), so the per-case cost of a task
(scheduling, argument transfer, result return) is a large share; the pool pays a pipe round
trip. Ray wins where cases are heavy or machines are many (``nnport sweep``).

    python benchmarks/probe_pool_vs_ray.py --cases 300 --workers 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from nnport.probe.cases import load_cases
from nnport.probe.engine import DEFAULT_OPTIONS, _build_tasks
from nnport.probe.pool import run_tasks
from nnport.sweep.engine import require_ray


def _ray_case(backend: str, options: dict[str, Any], model: str, data: str, rtol: float,
              atol: float) -> str:  # fmt: skip
    from nnport.probe.worker import run_case

    return str(run_case(backend, options, Path(model), Path(data), rtol, atol)["status"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--backend", default="onnxruntime")
    args = parser.parse_args(argv)
    options = DEFAULT_OPTIONS[args.backend]
    with tempfile.TemporaryDirectory(prefix="nnport-pool-vs-ray-") as tmp:
        tasks, _ = _build_tasks(load_cases(limit=args.cases), (), Path(tmp))
        tasks = [t for t in tasks if not t.same_as]
        start = time.perf_counter()
        pooled = run_tasks(tasks, args.backend, options, workers=args.workers, timeout=60)
        pool_s = time.perf_counter() - start

        ray = require_ray()
        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
        try:
            remote = ray.remote(num_cpus=1)(_ray_case)
            ray.get([remote.remote(args.backend, options, str(tasks[0].model), str(tasks[0].data),
                                   tasks[0].rtol, tasks[0].atol) for _ in range(args.workers * 2)])  # fmt: skip
            start = time.perf_counter()
            statuses = ray.get([remote.remote(args.backend, options, str(t.model), str(t.data),
                                              t.rtol, t.atol) for t in tasks])  # fmt: skip
            ray_s = time.perf_counter() - start
        finally:
            ray.shutdown()
    agree = sum(o.status == s for o, s in zip(pooled, statuses, strict=True))
    n = len(tasks)
    print(f"{n} probe runs on {args.backend}, {args.workers} CPUs")
    print(f"probe pool: {pool_s:.2f} s ({1000 * pool_s / n:.1f} ms per case)")
    print(f"Ray tasks:  {ray_s:.2f} s ({1000 * ray_s / n:.1f} ms per case, workers warm)")
    print(f"Ray / pool: {ray_s / pool_s:.2f}x; same status on {agree} of {n} cases")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
