"""Train the default ``nnport train detector`` recipe on the shapes dataset for several seeds:
val mAP@0.5 and mAP@0.5:0.95, wall and CPU seconds per run.

Usage: python benchmarks/detector_recipe.py [--seeds 0,1,2] [--data DIR] [--threads N]
       [--epochs N] [--out benchmarks/results/detector_recipe.json]

The dataset is generated once (seed 0, 2000 training and 400 val images) unless --data names
one. On a shared machine wall time is inflated: CPU seconds / threads is the quiet-machine
estimate of the wall time on that many cores (the goal: mAP@0.5 >= 0.90 within 10 minutes on
2 cores).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks/results/detector_recipe.json"
    )
    args = parser.parse_args()

    import torch

    from nnport.data.shapes import ShapesConfig, generate_shapes
    from nnport.recipes.detector import DetectorConfig, train_detector

    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / "shapes"
            start = time.perf_counter()
            generate_shapes(data, ShapesConfig(seed=0))
            print(f"dataset: {time.perf_counter() - start:.0f} s")
        rows = []
        for seed in (int(s) for s in args.seeds.split(",")):
            config = DetectorConfig(seed=seed, threads=args.threads)
            if args.epochs:
                config = DetectorConfig(seed=seed, threads=args.threads, epochs=args.epochs)
            _, info, result = train_detector(data, config)
            row = {
                "seed": seed,
                "epochs": config.epochs,
                "map50": round(float(info.metrics["map50"]), 4),
                "map50_95": round(float(info.metrics["map50_95"]), 4),
                "wall_s": round(result.seconds, 1),
                "cpu_s": round(result.cpu_seconds, 1),
                "quiet_wall_estimate_s": round(result.cpu_seconds / max(1, result.threads), 1),
                "threads": result.threads,
            }
            rows.append(row)
            print(json.dumps(row))
    summary = {
        "recipe": "nnport train detector (defaults)",
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "runs": rows,
        "min_map50": min(r["map50"] for r in rows),
        "max_quiet_wall_estimate_s": max(r["quiet_wall_estimate_s"] for r in rows),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
