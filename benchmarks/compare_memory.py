"""Peak memory of ``compare ORIGINAL --against FIXED`` against the size of the two models.

Usage: python benchmarks/compare_memory.py [--arch vit_b_16] [--model PATH] [--samples 1]

The model (torchvision ``--arch`` with random weights, opset 17, or --model) and its fixed copy
(``fix -t onnxruntime``, saved by nnport) are compared on ONNX Runtime in a fresh process, as
``nnport compare ORIGINAL --against FIXED`` runs it; the peak RSS (VmHWM) is printed
with its ratio to the two files' size, and, for scale, the peak of a process that only imports
nnport and ONNX Runtime. Issue 21 measured 2.48 GB on ViT-B/16 (3.8x the two models' 661 MB);
the goal is <= 2.5x.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bisect_memory import export


def fixed_copy(model: Path, out: Path) -> Path:
    from nnport.model import load, save
    from nnport.passes import fix

    result = fix(load(model), "onnxruntime")
    save(result.model if result.model is not None else load(model), out)
    return out


def child(mode: str, model: str, against: str, samples: int) -> None:
    """One measured run (in its own process)."""
    start = time.perf_counter()
    info: dict[str, object] = {"mode": mode}
    if mode == "compare":
        from nnport.model import load
        from nnport.verify.compare import CompareOptions, compare

        result = compare(load(model), against=against, options=CompareOptions(samples=samples))
        info["passed"] = result.passed
    else:  # the floor: what the imports alone cost
        import onnxruntime  # noqa: F401

        import nnport.verify.compare  # noqa: F401
    info["seconds"] = time.perf_counter() - start
    info["peak_mib"] = peak_rss() / 2**20
    print(json.dumps(info))


def peak_rss() -> int:
    """This process's peak resident memory in bytes: VmHWM, not ru_maxrss, which after fork and
    exec starts from the parent's resident size (a parent that exported with torch reads 2.3 GB
    in a child that only imported nnport)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="vit_b_16")
    parser.add_argument("--model", type=Path)
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--cache", type=Path, help="keep the export here and reuse it")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "MODEL", "AGAINST"))
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.samples)
        return
    with tempfile.TemporaryDirectory(prefix="nnport-compare-memory-") as tmp:
        work = Path(tmp)
        model = args.model
        if model is None and args.cache and (args.cache / f"{args.arch}.onnx").is_file():
            model = args.cache / f"{args.arch}.onnx"
        if model is None:
            model = export(args.arch, (args.cache or work) / f"{args.arch}.onnx")
        fixed = fixed_copy(model, work / "fixed.onnx")
        files = model.stat().st_size + fixed.stat().st_size
        print(f"model {model.name}: {model.stat().st_size / 2**20:.1f} MiB, fixed copy "
              f"{fixed.stat().st_size / 2**20:.1f} MiB, {args.samples} sample(s)")  # fmt: skip
        for mode in ("imports", "compare"):
            proc = subprocess.run(
                [sys.executable, __file__, "--samples", str(args.samples), "--child", mode,
                 str(model), str(fixed)],
                capture_output=True, text=True,
            )  # fmt: skip
            if proc.returncode != 0:
                sys.exit(f"{mode} run failed:\n{proc.stderr[-2000:]}")
            info = json.loads(proc.stdout.strip().splitlines()[-1])
            ratio = info["peak_mib"] * 2**20 / files
            print(f"{mode:8s} peak {info['peak_mib']:8.1f} MiB = {ratio:.2f}x the two models "
                  f"({files / 2**20:.1f} MiB), {info['seconds']:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
