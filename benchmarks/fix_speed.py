"""Time and peak memory of `nnport fix` against onnxslim on the same torchvision export.

Usage: python benchmarks/fix_speed.py [--model resnet50|vit_b_16] [--target ascend310]
                                      [--repeats 3] [--onnx FILE] [--baseline-src DIR]

Each tool runs in a fresh subprocess (so peak RSS is its own), on the same ONNX file exported
once by torch.onnx.export (random weights, opset 17), or --onnx FILE. The tools alternate
(onnxslim, fix, onnxslim, fix, ...) --repeats times so a shared machine's load hits both alike;
prints the median seconds, peak RSS and the ratio fix/onnxslim of the medians (and per pair);
the issue asks for <= 1.0x on ResNet-50 and <= 1.5x on ViT-B/16. --baseline-src DIR also times
fix from another nnport source tree in the same alternation (an older commit:
``git archive COMMIT src | tar -x -C DIR``), to measure a change on a loaded machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
tool, src, dst, target = sys.argv[1:5]
start = time.perf_counter()
if tool == "onnxslim":
    import onnxslim
    onnxslim.slim(src, dst)
else:
    from nnport.model.io import load, save
    from nnport.passes import fix
    model = load(src)
    t_load = time.perf_counter()
    result = fix(model, target)
    t_fix = time.perf_counter()
    save(result.model, dst)
    extra = {"deployable": result.deployable, "verified": result.verified,
             "passes": [p.fix for p in result.passes if p.kept],
             "load_s": t_load - start, "fix_s": t_fix - t_load,
             "save_s": time.perf_counter() - t_fix}
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
out = {"seconds": seconds, "peak_bytes": peak}
if tool != "onnxslim":
    out.update(extra)
print(json.dumps(out))
"""


EXPORT = r"""
import sys, warnings, torch, torchvision
warnings.simplefilter("ignore")
name, path = sys.argv[1:3]
torch.manual_seed(0)
model = getattr(torchvision.models, name)(weights=None).eval()
torch.onnx.export(model, (torch.randn(1, 3, 224, 224),), path, input_names=["input"],
                  output_names=["logits"], opset_version=17, dynamo=False)
"""


def export(name: str, path: Path) -> None:
    """Export a torchvision model (random weights, opset 17) in a subprocess: this process stays
    small, so the peak RSS its children report (inherited across fork) is their own."""
    subprocess.run([sys.executable, "-c", EXPORT, name, str(path)], check=True, timeout=1200)


def run(
    tool: str, src: Path, dst: Path, target: str, nnport_src: Path | None = None
) -> dict[str, object]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if nnport_src is not None:  # ahead of the installed (editable) nnport
        env["PYTHONPATH"] = os.pathsep.join([str(nnport_src), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, tool, str(src), str(dst), target],
        capture_output=True, text=True, env=env, check=True, timeout=1200,
    )  # fmt: skip
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--target", default="ascend310")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--onnx", type=Path, default=None, help="an existing export to time")
    parser.add_argument("--baseline-src", type=Path, default=None,
                        help="folder holding another nnport package tree to time as well")  # fmt: skip
    args = parser.parse_args()
    slims: list[dict[str, object]] = []
    fixes: list[dict[str, object]] = []
    bases: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        src = args.onnx or Path(tmp) / f"{args.model}.onnx"
        if args.onnx is None:
            export(args.model, src)
        size = src.stat().st_size
        for _ in range(args.repeats):
            slims.append(run("onnxslim", src, Path(tmp) / "slim.onnx", args.target))
            fixes.append(run("nnport", src, Path(tmp) / "fixed.onnx", args.target))
            if args.baseline_src is not None:
                bases.append(
                    run("nnport", src, Path(tmp) / "base.onnx", args.target, args.baseline_src)
                )

    def med(runs: list[dict[str, object]], key: str) -> float:
        return statistics.median(float(r[key]) for r in runs)  # type: ignore[arg-type]

    print(f"model {args.model} opset 17, {size / 2**20:.1f} MiB, target {args.target}, "
          f"{args.repeats} alternating runs each (median)")  # fmt: skip
    print(f"{'tool':<12}{'seconds':>10}{'peak RSS':>12}   runs")
    rows = [("onnxslim", slims), ("nnport fix", fixes)] + ([("baseline", bases)] if bases else [])
    for name, runs in rows:
        each = " ".join(f"{float(r['seconds']):.2f}" for r in runs)  # type: ignore[arg-type]
        print(f"{name:<12}{med(runs, 'seconds'):>10.2f}{med(runs, 'peak_bytes') / 2**30:>10.2f} GB   {each}")  # fmt: skip
    pairs = " ".join(
        f"{float(f['seconds']) / float(s['seconds']):.2f}"  # type: ignore[arg-type]
        for s, f in zip(slims, fixes, strict=True)
    )
    ratio = med(fixes, "seconds") / med(slims, "seconds")
    mem = med(fixes, "peak_bytes") / med(slims, "peak_bytes")
    print(f"time ratio fix/onnxslim: {ratio:.2f}x (per pair {pairs})   memory ratio: {mem:.2f}x")
    last = fixes[-1]
    print(f"fix: deployable={last['deployable']} verified={last['verified']} "
          f"passes={last['passes']}")  # fmt: skip
    for name, runs in rows[1:]:
        print(f"{name} breakdown (median): load {med(runs, 'load_s'):.2f} s, "
              f"fix {med(runs, 'fix_s'):.2f} s, save {med(runs, 'save_s'):.2f} s")  # fmt: skip
    if bases:
        print(f"baseline/onnxslim: {med(bases, 'seconds') / med(slims, 'seconds'):.2f}x   "
              f"fix/baseline: {med(fixes, 'seconds') / med(bases, 'seconds'):.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
