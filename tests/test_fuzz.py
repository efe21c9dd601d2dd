"""Fuzzed models through the real CLI: no exit 3, no traceback, no hang, no modified input.

A small, seeded sample of what benchmarks/fuzz.py runs at 100,000 cases (tests/fuzzing.py
builds the cases): byte mutations of examples/*.onnx, and graphs Hypothesis builds with random
names (non-UTF-8 among them), dims, dtypes, opsets and external-data keys.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from fuzzing import GraphCase, Runner, Tally, graph_cases, graph_maker, mutation_maker, run_case

MUTANTS = 16
GRAPHS = 16
CASE_TIMEOUT_S = 180.0  # a tiny model; only a hang gets near it


@pytest.fixture(scope="module")
def runner() -> Iterator[Runner]:
    """One worker process for the module's cases (it restarts itself after a hang)."""
    worker = Runner(timeout=CASE_TIMEOUT_S)
    yield worker
    worker.close()


def _assert_kept(tally: Tally) -> None:
    def show() -> str:
        return "\n".join(
            f"nnport {' '.join(o.argv)}\n  -> {o.code}: {o.stderr[-600:]}"
            for o in tally.bad + tally.noisy_examples
        )

    summary = tally.summary()
    assert summary["exit_3"] == 0, show()
    assert summary["tracebacks"] == 0, show()
    assert summary["hangs"] == 0 and summary["crashes"] == 0, show()
    assert summary["modified_inputs"] == 0, show()
    assert summary["stderr_over_one_line"] == 0, show()


def test_mutated_examples(runner: Runner, tmp_path: Path) -> None:
    tally = Tally()
    rng = random.Random(21)
    for _ in range(MUTANTS):
        tally.add(run_case(runner, tmp_path / "case", rng, mutation_maker(rng)))
    _assert_kept(tally)
    assert tally.codes["2"] > 0  # the mutations do reach the bad-input paths


@settings(
    max_examples=GRAPHS,
    derandomize=True,  # the same cases on every run
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: the failing case is reported as is
    suppress_health_check=list(HealthCheck),
)
@given(case=graph_cases())
def test_hypothesis_graphs(runner: Runner, tmp_path_factory: pytest.TempPathFactory,
                           case: GraphCase) -> None:  # fmt: skip
    tally = Tally()
    root = tmp_path_factory.mktemp("graph") / "case"
    tally.add(run_case(runner, root, random.Random(repr(case)), graph_maker(case)))
    _assert_kept(tally)
