"""How ``nnport sweep`` scales: the zoo × targets × formats on 1 and 2 local CPUs, the per-cell
scheduling overhead, and a projection of a 1,000-model × 7-target sweep on 8 and 64 nodes.

Each run starts its own local Ray instance, warms its workers, and sweeps into a fresh folder, so the two runs do
the same cells; the speed-up is their wall-time ratio (goal ≥ 1.7× on 2 CPUs). The overhead of
a cell is the wall time of the 1-CPU run less the time the cells' own work took, per cell (goal
≤ 5% of the median cell). Needs the zoo (benchmarks/zoo.py: torch, torchvision, timm,
transformers) and nnport[ray].

    python benchmarks/sweep_scale.py --names resnet18,mobilenet_v2 --opsets 17
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import zoo

from nnport.sweep.engine import SweepOptions, require_ray, run_sweep
from nnport.sweep.plan import load_plan

PROJECTED_MODELS, PROJECTED_TARGETS = 1000, 7


def _plan(folder: Path, models: list[Path], targets: list[str], precisions: list[str],
          verbs: list[str]) -> Path:  # fmt: skip
    path = folder / "plan.toml"
    path.write_text(
        f"models = {json.dumps([str(m) for m in models])}\n"
        f"targets = {json.dumps(targets)}\nprecisions = {json.dumps(precisions)}\n"
        f"verbs = {json.dumps(verbs)}\n"
    )
    return path


def _warm() -> str:
    import nnport.sweep.cell  # noqa: F401  (what a cell imports first)

    return "warm"


def _run(plan: Path, out: Path, cpus: int) -> tuple[float, list[dict]]:
    """Wall time of the sweep alone: Ray is started and its workers have imported nnport first
    (a long sweep pays that once; a benchmark of a few cells would be all start-up)."""
    ray = require_ray()
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    try:
        warm = ray.remote(num_cpus=1)(_warm)
        ray.get([warm.remote() for _ in range(cpus * 2)])
        start = time.perf_counter()
        result = run_sweep(load_plan(plan), out, SweepOptions(timeout=3600))
        return time.perf_counter() - start, list(result.rows)
    finally:
        ray.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", default="", help="zoo architectures (default: the light zoo)")
    parser.add_argument("--opsets", default="17")
    parser.add_argument("--targets", default="ascend310,nnie,ncnn,openvino")
    parser.add_argument("--precisions", default="fp32,fp16")
    parser.add_argument("--verbs", default="check")
    parser.add_argument("--cache", default=str(zoo.DEFAULT_CACHE))
    args = parser.parse_args(argv)
    names = [n for n in args.names.split(",") if n] or None
    opsets = [int(o) for o in args.opsets.split(",")]
    models = [m.path for m in zoo.iter_zoo(args.cache, opsets, names, light=True)]
    targets, precisions = args.targets.split(","), args.precisions.split(",")
    verbs = args.verbs.split(",")
    with tempfile.TemporaryDirectory(prefix="nnport-sweep-scale-") as tmp:
        plan = _plan(Path(tmp), models, targets, precisions, verbs)
        wall1, rows1 = _run(plan, Path(tmp) / "one", 1)
        wall2, rows2 = _run(plan, Path(tmp) / "two", 2)
    cells = len(rows1)
    work = [float(r.get("seconds", 0.0)) for r in rows1]
    median, mean = statistics.median(work), statistics.fmean(work)
    overhead = max(0.0, wall1 - sum(work)) / max(cells, 1)
    print(f"{len(models)} models × {len(targets)} targets × {len(precisions)} formats × "
          f"{len(verbs)} verbs = {cells} cells")  # fmt: skip
    print(
        f"1 CPU: {wall1:.1f} s   2 CPUs: {wall2:.1f} s   speed-up {wall1 / wall2:.2f}x (goal ≥ 1.7x)"
    )
    print(f"cell work: median {median:.3f} s, mean {mean:.3f} s; scheduling overhead "
          f"{overhead:.3f} s per cell = {100 * overhead / median:.1f}% of the median (goal ≤ 5%)")  # fmt: skip
    failed = sum(r["status"] == "failed" for r in rows1 + rows2)
    print(f"failed cells: {failed}")
    per_model_target = (mean + overhead) * len(precisions) * len(verbs)
    total = PROJECTED_MODELS * PROJECTED_TARGETS * per_model_target
    for nodes, cores in ((8, 16), (64, 16)):
        hours = total / (nodes * cores) / 3600
        print(f"projection: {PROJECTED_MODELS} models × {PROJECTED_TARGETS} targets × "
              f"{len(precisions)} formats × {len(verbs)} verbs on {nodes} nodes of {cores} "
              f"cores: {hours:.2f} h (this machine's per-cell cost, one cell per core)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
