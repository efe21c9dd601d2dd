"""bench --precision: each row says the format and whether it ran natively or emulated."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from nnport.bench.run import BenchResult
from nnport.results import loads


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_bench_precision_labels(examples_dir: Path, cli: Callable, precision: str) -> None:
    run = cli(
        "bench", examples_dir / "demo.onnx", "--precision", precision,
        "--iterations", "3", "--warmup", "1", "--json",
    )  # fmt: skip
    assert run.code == 0, run.err
    result = loads(BenchResult, run.out)
    (timing,) = result.timings
    assert timing.error is None and timing.iterations == 3
    assert timing.precision == precision
    assert timing.precision_mode == ("native" if precision == "fp32" else "emulated")
    if precision != "fp32":
        assert json.loads(run.out)["timings"][0]["config"]["optimization"] == "disable"


def test_bench_unknown_precision(examples_dir: Path, cli: Callable) -> None:
    run = cli("bench", examples_dir / "demo.onnx", "--precision", "tf32")
    assert run.code == 2 and "unknown precision 'tf32'" in run.err
