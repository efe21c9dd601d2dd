"""Precision emulation over the zoo and the recipes: which models break in fp16 and bf16, the
int8 accuracy drop of the MNIST and classifier recipes, and the cost of fp16 emulation.

    python benchmarks/precision.py                       # everything, light zoo at opset 17
    python benchmarks/precision.py --parts zoo --names resnet18,bert_tiny
    python benchmarks/precision.py --parts cost          # ResNet-50 fp16 emulation vs fp32

Parts:
- zoo: each model compared in fp16 and bf16 emulation against fp32 on generated inputs
  (``nnport.verify.compare`` with the default SQNR floors: fp16 30 dB, bf16 20 dB, and no new
  NaN/inf); a model "breaks" when an output fails. Also the tensors over fp16's range.
- recipes: int8 (QDQ, MinMax, 128 calibration samples of the training data) top-1 against fp32
  for the MNIST recipe (trained here on --mnist-limit images, evaluated on the 10,000 test
  images) and the classifier recipe (resnet18 on a synthetic shapes folder).
- cost: ResNet-50 (random weights), the same input: ONNX Runtime fp32 with its optimizations
  (what a user runs), fp32 with optimizations off, and fp16 emulation (optimizations off, as
  nnport runs it); the ratio emulation / fp32 is the cost (goal: within 3x).

- keep: the repair ``fix`` runs for a model that breaks in fp16 (``passes/keep_fp32.py``):
  per zoo model the fp32 keep-set (overflow region, then bisection), its size, the model runs
  the search took against its budget 2*log2(nodes)+10, and whether the mixed model matches.

Results go to benchmarks/results/precision.json (one object per part). Timings on a shared
machine are noisy: each is the median of --repeats runs after a warm-up, the variants
interleaved in the same process.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))  # the classifier test's synthetic shapes folder

logger = logging.getLogger("nnport.bench.precision")
NNPORT = [sys.executable, "-m", "nnport"]


def zoo_part(args: argparse.Namespace) -> dict[str, Any]:
    """fp16 and bf16 emulation against fp32 over the zoo."""
    import zoo

    from nnport.model import load
    from nnport.precision.formats import DEFAULT_MIN_SQNR_DB
    from nnport.verify.compare import CompareOptions, compare
    from nnport.verify.inputs import generate_inputs

    names = [n for n in args.names.split(",") if n] or None
    opsets = tuple(int(o) for o in args.opsets.split(","))
    rows = []
    for entry in zoo.iter_zoo(args.cache, opsets, names, light=not args.heavy):
        model = load(entry.path)
        shapes = entry.input_shapes or None
        try:
            feeds = generate_inputs(model, shapes, samples=args.samples, seed=0)
        except Exception as exc:  # a model nnport cannot generate inputs for is listed, not fatal
            rows.append({"name": entry.name, "opset": entry.opset, "error": str(exc)[:200]})
            continue
        row: dict[str, Any] = {"name": entry.name, "family": entry.family, "opset": entry.opset}
        for fmt in ("fp16", "bf16"):
            start = time.perf_counter()
            try:
                result = compare(
                    model,
                    options=CompareOptions(
                        precision=fmt,
                        min_sqnr_db=DEFAULT_MIN_SQNR_DB[fmt],
                        input_shapes=shapes,
                        range_scan=fmt == "fp16",
                    ),
                    feeds=feeds,
                )
            except Exception as exc:
                row[fmt] = {"error": " ".join(str(exc).split())[:200]}
                continue
            scan = result.ranges
            row[fmt] = {
                "passed": result.passed,
                "min_sqnr_db": min((o.snr_db for o in result.outputs), default=float("nan")),
                "new_inf_nan": sum(
                    (o.inf_candidate - o.inf_reference) + (o.nan_candidate - o.nan_reference)
                    for o in result.outputs
                ),
                "over_range_tensors": scan.over_count if scan else None,
                "first_over": scan.first_over.node if scan and scan.first_over else None,
                "largest_abs": scan.largest.max_abs if scan and scan.largest else None,
                "underflow_tensors": scan.underflow_tensors if scan else None,
                "output_max_abs": max((o.reference_max_abs for o in result.outputs), default=0),
                "seconds": round(time.perf_counter() - start, 2),
            }
        rows.append(row)
        logger.info(
            "%s op%d: %s", entry.name, entry.opset, {k: row.get(k) for k in ("fp16", "bf16")}
        )
    done = [r for r in rows if "error" not in r]
    summary = {
        fmt: {
            "models": sum(1 for r in done if "passed" in r.get(fmt, {})),
            "break": [r["name"] for r in done if r.get(fmt, {}).get("passed") is False],
            "errors": [r["name"] for r in done if "error" in r.get(fmt, {})],
        }
        for fmt in ("fp16", "bf16")
    }
    summary["fp16"]["over_range"] = [r["name"] for r in done if r["fp16"].get("over_range_tensors")]
    # fp16 breaks without an overflow: activations below fp16's normal range (6.1e-5) lose
    # bits in subnormals or flush to zero (random-weight nets whose activations decay)
    summary["fp16"]["break_without_overflow"] = [
        r["name"]
        for r in done
        if r["fp16"].get("passed") is False and not r["fp16"].get("over_range_tensors")
    ]
    return {"summary": summary, "models": rows}


def _evaluate(model: Path, dataset: str, data: Path, precisions: str) -> dict[str, Any]:
    out = subprocess.run(
        [*NNPORT, "evaluate", str(model), "--dataset", dataset, "--data", str(data),
         "--precision", precisions, "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    result = json.loads(out.stdout)
    return {
        b["precision"]: {
            "accuracy": b["accuracy"],
            "agreement_with_fp32": b["agreement_with_fp32"],
            "changed_vs_fp32": b["changed_vs_fp32"],
            "seconds": round(b["seconds"], 2),
        }
        for b in result["backends"]
    } | {"count": result["count"]}


def recipes_part(args: argparse.Namespace) -> dict[str, Any]:
    """int8 (and fp16) accuracy against fp32 for the MNIST and classifier recipes."""
    from nnport.recipes.export import ExportOptions, export
    from nnport.recipes.load import load_checkpoint
    from nnport.recipes.mnist import MnistTrainConfig, save_mnist, train_mnist

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="nnport-precision-") as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        net, trained = train_mnist(
            args.mnist, MnistTrainConfig(epochs=1, limit=args.mnist_limit, seed=0)
        )
        save_mnist(net, trained, work / "mnist.pt")
        loaded, info = load_checkpoint(work / "mnist.pt")
        export(loaded, work / "mnist.onnx", ExportOptions(dynamic_batch=True), info=info)
        mnist = _evaluate(work / "mnist.onnx", "mnist", args.mnist, "fp32,fp16,int8")
        mnist["train_images"] = args.mnist_limit
        mnist["int8_drop_points"] = 100 * (mnist["fp32"]["accuracy"] - mnist["int8"]["accuracy"])
        mnist["seconds"] = round(time.perf_counter() - start, 1)
        results["mnist"] = mnist
        logger.info("mnist: %s", mnist)

        from test_recipe_classifier import make_folder

        start = time.perf_counter()
        train_dir = make_folder(work / "shapes" / "train", 40, 0)
        test_dir = make_folder(work / "shapes" / "test", 30, 1)
        subprocess.run(
            [*NNPORT, "train", "classifier", "--data", str(train_dir), "--backbone", "resnet18",
             "--image-size", "32", "--epochs", "5", "--batch-size", "16", "--hidden", "64",
             "-o", str(work / "shapes.pt"), "--json"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        subprocess.run(
            [*NNPORT, "export", str(work / "shapes.pt"), "-o", str(work / "shapes.onnx"),
             "--dynamic-batch"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        shapes = _evaluate(work / "shapes.onnx", "imagefolder", test_dir, "fp32,fp16,int8")
        shapes["int8_drop_points"] = 100 * (shapes["fp32"]["accuracy"] - shapes["int8"]["accuracy"])
        shapes["seconds"] = round(time.perf_counter() - start, 1)
        shapes["note"] = "resnet18 trained 5 epochs on 120 synthetic shape images at 32x32"
        results["classifier"] = shapes
        logger.info("classifier: %s", shapes)
    return results


def cost_part(args: argparse.Namespace) -> dict[str, Any]:
    """ResNet-50: fp16 emulation against fp32, same input, same process."""
    import zoo

    from nnport.backends.onnxruntime import OnnxRuntimeRunner
    from nnport.model import load
    from nnport.precision.emulate import emulate
    from nnport.verify.inputs import generate_inputs

    (entry,) = list(zoo.iter_zoo(args.cache, (17,), ["resnet50"]))
    model = load(entry.path)
    (feed,) = generate_inputs(model, entry.input_shapes or None, seed=0)
    start = time.perf_counter()
    emulated = emulate(model, "fp16")
    rewrite_s = time.perf_counter() - start
    casts = sum(1 for n in emulated.graph if n.op_type == "Cast")
    threads = args.threads
    runners = {
        "fp32_optimized": OnnxRuntimeRunner(model, threads=threads, optimization="all"),
        "fp32_unoptimized": OnnxRuntimeRunner(model, threads=threads, optimization="disable"),
        "fp16_emulated": OnnxRuntimeRunner(emulated, threads=threads, optimization="disable"),
    }
    samples: dict[str, list[float]] = {label: [] for label in runners}
    for runner in runners.values():
        runner.__enter__()
    try:
        for runner in runners.values():
            runner.infer(feed)  # warm-up
        # interleaved, so a burst of load on the shared machine hits every variant alike
        for _ in range(args.repeats):
            for label, runner in runners.items():
                runner.infer(feed)
                samples[label].append(runner.last_inference_time)
    finally:
        for runner in runners.values():
            runner.__exit__(None, None, None)
    timings = {label: round(1000 * statistics.median(t), 2) for label, t in samples.items()}
    return {
        "model": "resnet50 (torchvision, random weights, opset 17, 1x3x224x224)",
        "threads": threads,
        "repeats": args.repeats,
        "ms": timings,
        "ratio_emulated_vs_fp32": round(timings["fp16_emulated"] / timings["fp32_optimized"], 2),
        "ratio_emulated_vs_fp32_unoptimized": round(
            timings["fp16_emulated"] / timings["fp32_unoptimized"], 2
        ),
        "rewrite_seconds": round(rewrite_s, 2),
        "casts_inserted": casts,
        "nodes_before": len(list(model.graph)),
    }


def keep_part(args: argparse.Namespace) -> dict[str, Any]:
    """The fp16 keep-set search over the zoo: sizes and run counts against the budget."""
    import zoo

    from nnport.model import load
    from nnport.passes.keep_fp32 import verify_precision
    from nnport.verify.inputs import generate_inputs

    names = [n for n in args.names.split(",") if n] or None
    opsets = tuple(int(o) for o in args.opsets.split(","))
    rows = []
    for entry in zoo.iter_zoo(args.cache, opsets, names, light=not args.heavy):
        row: dict[str, Any] = {"name": entry.name, "opset": entry.opset}
        try:
            model = load(entry.path)
            feeds = generate_inputs(model, entry.input_shapes or None, samples=args.samples, seed=0)
            report = verify_precision(model, "fp16", feeds)
        except Exception as exc:  # listed, not fatal
            row["error"] = " ".join(str(exc).split())[:200]
            rows.append(row)
            continue
        row.update(nodes=report.nodes, broke=report.broke, passed=report.passed,
                   kept=len(report.kept), overflow=len(report.overflow), runs=report.runs,
                   budget=report.run_budget, sqnr_db=round(report.sqnr_db, 1),
                   seconds=round(report.seconds, 1), reason=report.reason)  # fmt: skip
        rows.append(row)
        logger.info("%s: %s", entry.name, row)
    done = [r for r in rows if "error" not in r]
    broke = [r for r in done if r["broke"]]
    summary = {
        "models": len(done),
        "break_fp16": [r["name"] for r in broke],
        "repaired": [r["name"] for r in broke if r["passed"]],
        "keep_set_sizes": {r["name"]: r["kept"] for r in broke},
        "runs_vs_budget": {r["name"]: f"{r['runs']}/{r['budget']}" for r in broke},
        "all_within_budget": all(r["runs"] <= r["budget"] for r in done),
        "errors": [r["name"] for r in rows if "error" in r],
    }
    return {"summary": summary, "models": rows}


def main(argv: list[str] | None = None) -> int:
    import zoo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--parts", default="zoo,recipes,cost")
    parser.add_argument("--cache", type=Path, default=zoo.DEFAULT_CACHE)
    parser.add_argument("--opsets", default="17")
    parser.add_argument("--names", default="", help="zoo architectures or families")
    parser.add_argument("--heavy", action="store_true", help="include the zoo's heavy models")
    parser.add_argument("--samples", type=int, default=2, help="generated inputs per zoo model")
    parser.add_argument("--mnist", type=Path, default=ROOT.parent / "shared" / "data" / "mnist")
    parser.add_argument("--mnist-limit", type=int, default=6000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "precision.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parts = [p for p in args.parts.split(",") if p]
    existing = json.loads(args.out.read_text()) if args.out.is_file() else {}
    for part in parts:
        start = time.perf_counter()
        found = {"zoo": zoo_part, "recipes": recipes_part, "cost": cost_part, "keep": keep_part}[
            part
        ](args)
        found["wall_seconds"] = round(time.perf_counter() - start, 1)
        existing[part] = found
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(existing, indent=1, default=str) + "\n")
        print(json.dumps({part: found.get("summary", found)}, indent=1, default=str)[:4000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
