"""nnport bench: latency statistics per backend, batch handling, failures reported per backend."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from nnport.bench import BenchOptions, BenchResult, bench
from nnport.errors import UsageError
from nnport.model import load
from nnport.results import loads


def test_bench_cli_times_each_backend(examples_dir: Path, cli: Any) -> None:
    pytest.importorskip("openvino")
    run = cli(
        "bench", examples_dir / "opset17.onnx", "-b", "onnxruntime,openvino",
        "--iterations", "7", "--warmup", "1", "--json",
    )  # fmt: skip
    assert run.code == 0, run.err
    result = loads(BenchResult, run.out)
    assert [t.backend for t in result.timings] == ["onnxruntime", "openvino"]
    for timing in result.timings:
        assert timing.iterations == 7 and timing.error is None
        assert 0 < timing.min_ms <= timing.p50_ms <= timing.p90_ms <= timing.p99_ms <= timing.max_ms
        assert timing.throughput == pytest.approx(1000 / timing.mean_ms)
    assert result.timings[1].config["precision"] == "f32"
    text = cli("bench", examples_dir / "opset17.onnx", "--iterations", "3")
    assert text.code == 0 and "p99 ms" in text.out and "onnxruntime" in text.out


def test_bench_batch_on_dynamic_model_and_time_budget(examples_dir: Path) -> None:
    model = load(examples_dir / "dynamic_input.onnx")
    options = BenchOptions(batch=4, seconds=0.2, warmup=0, input_shapes=None)
    with pytest.raises(UsageError, match="dynamic dims"):
        bench(model, ["onnxruntime"], options)
    result = bench(
        model,
        ["onnxruntime"],
        BenchOptions(batch=4, seconds=0.2, warmup=0, input_shapes={"x": (4, 3, 8, 8)}),
    )
    (timing,) = result.timings
    assert timing.batch == 4 and timing.iterations >= 1
    assert timing.throughput == pytest.approx(4000 / timing.mean_ms)


def test_bench_fixed_batch_and_failing_backend(examples_dir: Path, cli: Any) -> None:
    run = cli("bench", examples_dir / "opset17.onnx", "--batch", "2")
    assert run.code == 2 and "fixed batch" in run.err
    run = cli(
        "bench",
        examples_dir / "opset17.onnx",
        "-b",
        "onnxruntime,nosuch",
        "--iterations",
        "2",
        "--json",
    )
    assert run.code == 1
    result = loads(BenchResult, run.out)
    assert result.timings[0].error is None
    assert result.timings[1].error and "unknown backend" in result.timings[1].error
    assert math.isnan(result.timings[1].mean_ms)
    run = cli("bench", examples_dir / "opset17.onnx", "--iterations", "2", "--seconds", "1")
    assert run.code == 2 and "not both" in run.err
