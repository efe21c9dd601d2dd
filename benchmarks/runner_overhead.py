"""Runner overhead: nnport's runner vs the runtime's own API on ResNet-18, batch 1, same process.

Usage: python benchmarks/runner_overhead.py [--model resnet18.onnx] [--iterations 200] [--threads 1]

Both paths run the same model on the same input, interleaved in blocks so machine noise hits
both alike; the overhead ratio is median(nnport) / median(raw) - 1 (goal: <= 2%).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
from bisect_memory import export


def interleaved(
    raw: Callable[[], object], ours: Callable[[], object], iterations: int, block: int = 10
) -> tuple[list[float], list[float]]:
    """Per-call seconds of each function, alternating blocks of ``block`` calls."""
    raw_times: list[float] = []
    our_times: list[float] = []
    for _ in range(3):  # warm-up
        raw()
        ours()
    while len(raw_times) < iterations:
        for fn, times in ((raw, raw_times), (ours, our_times)):
            for _ in range(block):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
    return raw_times, our_times


def report(name: str, raw: list[float], ours: list[float], fixed_us: float) -> None:
    """Print medians, minima and the overhead ratios (measured, and from the fixed cost)."""
    r, o = statistics.median(raw), statistics.median(ours)
    ratio = o / r - 1
    bound = fixed_us / (1e6 * min(raw))
    print(
        f"{name:12s} raw median {1000 * r:8.3f} ms (min {1000 * min(raw):.3f})   "
        f"nnport median {1000 * o:8.3f} ms (min {1000 * min(ours):.3f})   "
        f"overhead {100 * ratio:+6.2f}% (median, noisy)   "
        f"fixed cost {fixed_us:.1f} us/call = {100 * bound:.3f}% of a ResNet-18 call "
        f"({'ok' if bound <= 0.02 else 'ABOVE 2%'})"
    )


def fixed_cost_us(raw: Callable[[], object], ours: Callable[[], object], n: int = 2000) -> float:
    """The runner's own cost per call, measured on a tiny model where runtime time is ~0."""
    raw_times, our_times = interleaved(raw, ours, n, block=100)
    return 1e6 * (statistics.median(our_times) - statistics.median(raw_times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--backends", default="onnxruntime,openvino")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    model_path = args.model or export("resnet18", tmp / "resnet18.onnx")
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    feeds = {"input": x}
    tiny = Path(__file__).resolve().parents[1] / "examples" / "opset17.onnx"
    tiny_feeds = {"x": np.random.default_rng(0).standard_normal((1, 6, 16)).astype(np.float32)}
    from nnport.backends import make_runner

    print(f"model {model_path}, batch 1, {args.iterations} calls each, threads {args.threads}")
    backends = args.backends.split(",")
    if "onnxruntime" in backends:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        small = ort.InferenceSession(str(tiny), options, providers=providers)
        with make_runner("onnxruntime", str(tiny), threads=args.threads) as runner:
            fixed = fixed_cost_us(
                lambda: small.run(None, tiny_feeds), lambda: runner.infer(tiny_feeds)
            )
        session = ort.InferenceSession(str(model_path), options, providers=providers)
        with make_runner("onnxruntime", str(model_path), threads=args.threads) as runner:
            raw, ours = interleaved(
                lambda: session.run(None, feeds), lambda: runner.infer(feeds), args.iterations
            )
        report("onnxruntime", raw, ours, fixed)
    if "openvino" in backends:
        import openvino as ov

        config = {
            "INFERENCE_PRECISION_HINT": "f32",
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": args.threads,
        }
        core = ov.Core()
        small_request = core.compile_model(
            ov.convert_model(str(tiny)), "CPU", config
        ).create_infer_request()
        with make_runner("openvino", str(tiny), threads=args.threads) as runner:
            fixed = fixed_cost_us(
                lambda: small_request.infer(tiny_feeds), lambda: runner.infer(tiny_feeds)
            )
        compiled = core.compile_model(ov.convert_model(str(model_path)), "CPU", config)
        request = compiled.create_infer_request()
        with make_runner("openvino", str(model_path), threads=args.threads) as runner:
            raw, ours = interleaved(
                lambda: request.infer(feeds), lambda: runner.infer(feeds), args.iterations
            )
        report("openvino", raw, ours, fixed)


if __name__ == "__main__":
    main()
