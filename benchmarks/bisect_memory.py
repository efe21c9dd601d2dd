"""Peak memory of ``compare --bisect`` against a plain compare and a mark-all-outputs compare.

Usage: python benchmarks/bisect_memory.py [--arch vit_b_16|resnet50] [--model PATH] [--samples 2]

Each mode runs in a fresh process (peak RSS, ``ru_maxrss``), on the same model and inputs:
- plain:   nnport compare, ONNX Runtime against ONNX Runtime, outputs only;
- bisect:  the same with --bisect and a fault injected in the last Add/Conv of the candidate,
           so bisect must scan the whole network;
- markall: every intermediate tensor marked as a graph output (Polygraphy's mark-all), compared.
The goal is bisect <= 1.2x plain (Polygraphy's mark-all on ViT-B/16 measured 1.71x).
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


def export(arch: str, path: Path) -> Path:
    import torch
    import torchvision

    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(weights=None).eval()
    torch.onnx.export(
        model, (torch.randn(1, 3, 224, 224),), str(path), input_names=["input"],
        output_names=["logits"], opset_version=17, dynamo=False,
    )  # fmt: skip
    return path


def inject_fault(model_path: Path, out: Path) -> str:
    """Copy the model with its last Add turned into Sub (or last Conv's bias shifted)."""
    from nnport.model import load, save

    model = load(model_path)
    node = [n for n in model.graph if n.op_type in ("Add", "Sub")][-1]
    node.op_type = "Sub" if node.op_type == "Add" else "Add"
    save(model, out)
    return node.name or ""


def mark_all(model_path: Path, out: Path) -> int:
    """Copy the model with every non-constant float node output added to the graph outputs."""
    import onnx
    import onnx_ir as ir

    from nnport.model import save

    # graph outputs need types: shape-infer first, as Polygraphy does before marking
    model = ir.serde.deserialize_model(onnx.shape_inference.infer_shapes(onnx.load(model_path)))
    outputs = {v.name for v in model.graph.outputs}
    count = 0
    for node in model.graph:
        if node.op_type == "Constant" or all(
            i is None or i.const_value is not None for i in node.inputs
        ):
            continue
        for value in node.outputs:
            # ONNX needs a shape on graph outputs: skip the few shape inference left unknown
            if value.shape is None or value.dtype is None:
                continue
            if value.name not in outputs and value.dtype.is_floating_point():
                model.graph.outputs.append(value)
                count += 1
    save(model, out)
    return count


def child(mode: str, model: str, against: str, samples: int) -> None:
    """One measured run (in its own process)."""
    from nnport.model import load
    from nnport.verify.compare import CompareOptions, compare

    start = time.perf_counter()
    reference = load(model)
    options = CompareOptions(samples=samples, bisect=mode == "bisect")
    result = compare(reference, against=against if mode == "bisect" else None, options=options)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # VmHWM: ru_maxrss of a child starts from its parent's size at fork (the export with torch)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak_kib = int(line.split()[1])
    info = {"mode": mode, "peak_mib": peak_kib / 1024, "seconds": seconds}
    if result.bisect is not None:
        info.update(node=result.bisect.node, runs=result.bisect.runs, compared=result.bisect.compared,
                    budget_mib=result.bisect.budget_bytes / 2**20)  # fmt: skip
    if mode == "markall":
        info["outputs"] = len(result.outputs)
    print(json.dumps(info))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="vit_b_16")
    parser.add_argument("--model", type=Path)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--child", nargs=3, metavar=("MODE", "MODEL", "AGAINST"))
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.samples)
        return
    tmp = Path(tempfile.mkdtemp(prefix="nnport-bisect-memory-"))
    model = args.model or export(args.arch, tmp / f"{args.arch}.onnx")
    faulty = tmp / "faulty.onnx"
    node = inject_fault(model, faulty)
    marked = tmp / "markall.onnx"
    count = mark_all(model, marked)
    print(
        f"model {model}: fault in {node!r}; mark-all adds {count} outputs; {args.samples} samples"
    )
    results = {}
    for mode, path in (("plain", model), ("bisect", model), ("markall", marked)):
        proc = subprocess.run(
            [sys.executable, __file__, "--samples", str(args.samples), "--child", mode, str(path), str(faulty)],
            capture_output=True, text=True,
        )  # fmt: skip
        if proc.returncode != 0:
            sys.exit(f"{mode} run failed:\n{proc.stderr[-2000:]}")
        results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(json.dumps(results[mode]))
    plain = results["plain"]["peak_mib"]
    for mode in ("bisect", "markall"):
        ratio = results[mode]["peak_mib"] / plain
        print(
            f"{mode:8s} peak {results[mode]['peak_mib']:8.1f} MiB = {ratio:.2f}x plain ({plain:.1f} MiB)"
        )
    bisect_ok = results["bisect"]["peak_mib"] <= 1.2 * plain and results["bisect"]["node"] == node
    print("bisect found the fault within 1.2x plain memory:", "yes" if bisect_ok else "NO")


if __name__ == "__main__":
    main()
