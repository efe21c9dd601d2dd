"""Time of `check` on a ~100 MB model (torchvision ResNet-50 export) against loading it.

Usage: python benchmarks/check_speed.py [--model resnet50] [--onnx PATH] [--repeat 3]

The issue asks for `check` on a 100 MB model in under 2 seconds. `check` never serialises the
weights (shape inference runs on a weight-free copy), so its time is that of the graph, not of
the file; the baseline printed beside it is `nnport.model.load` of the same file, in the same
process.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path


def export(name: str, path: Path) -> None:
    """Export a torchvision model with random weights at opset 17."""
    import torch
    import torchvision

    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    torch.onnx.export(
        model, (torch.randn(1, 3, 224, 224),), str(path), input_names=["input"],
        output_names=["logits"], opset_version=17, dynamo=False,
    )  # fmt: skip


def main(argv: list[str]) -> int:
    """Export (or take) a model, then time load and check for every shipped target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--onnx", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    from nnport.check import check
    from nnport.model import load
    from nnport.targets import list_targets, load_target

    with tempfile.TemporaryDirectory() as tmp:
        path = args.onnx or Path(tmp) / f"{args.model}.onnx"
        if args.onnx is None:
            export(args.model, path)
        size = path.stat().st_size / 2**20
        loads = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            model = load(path)
            loads.append(time.perf_counter() - start)
        load_s = statistics.median(loads)
        print(f"{path.name}: {size:.1f} MiB, {len(list(model.graph))} nodes")
        print(f"  load (baseline)   {load_s:7.3f} s")
        for info in list_targets():
            profile = load_target(info.name)
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                report = check(model, profile)
                times.append(time.perf_counter() - start)
            seconds = statistics.median(times)
            verdict = "deployable" if report.deployable else f"{len(report.violations)} violations"
            print(
                f"  check {info.name:<12}{seconds:7.3f} s  ({seconds / load_s:.2f}x load)  "
                f"{verdict}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
