"""Fuzz the CLI: byte-mutated examples and Hypothesis-built graphs, counting exit codes.

Usage: python benchmarks/fuzz.py [--cases 100000] [--seed 0] [--timeout 120] [--json OUT.json]
                                 [--keep DIR]

Half the cases are seeded byte mutations of examples/*.onnx, half are graphs Hypothesis builds
with random names (non-UTF-8 among them), dims, dtypes, opsets and external-data keys. Each case
runs one verb (inspect, check, fix, compare, bench, port, convert) through nnport's console-script
entry point, in-process in a worker process with a per-case deadline (tests/fuzzing.py). The
promise: 0 exit-3s, 0 tracebacks, 0 hangs (or worker crashes), 0 modified inputs (every input
file is hashed before and after); also counted: runs that print more than one line on stderr,
and runs stopped for holding over 4 GiB (the worker's address space is capped at 8 GiB, so a
model asking for more meets a MemoryError, which nnport must report as exit 2).
Exits 1 when a promise is broken, listing the cases that broke it; --keep DIR saves them.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hypothesis import HealthCheck, Phase, given, seed, settings

from fuzzing import (
    GraphCase,
    Runner,
    Tally,
    graph_cases,
    graph_maker,
    mutation_maker,
    run_case,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=120.0, help="Seconds per case.")
    parser.add_argument("--json", type=Path, help="Write the counts here as JSON.")
    parser.add_argument("--keep", type=Path, help="Copy each failing case's inputs here.")
    args = parser.parse_args()

    tally = Tally()
    runner = Runner(timeout=args.timeout)
    mutants = args.cases // 2
    graphs = args.cases - mutants
    start = time.perf_counter()
    last = [start]

    def progress() -> None:
        now = time.perf_counter()
        if now - last[0] > 30:
            last[0] = now
            print(f"{tally.cases} cases, {now - start:.0f} s: {tally.summary()}", flush=True)

    with tempfile.TemporaryDirectory(prefix="nnport-fuzz-") as tmp:
        root = Path(tmp) / "case"
        rng = random.Random(args.seed)
        for _ in range(mutants):
            tally.add(run_case(runner, root, rng, mutation_maker(rng), args.keep))
            progress()

        @seed(args.seed)
        @settings(
            max_examples=graphs,
            database=None,
            deadline=None,
            phases=[Phase.generate],  # no shrinking: every case counts once
            suppress_health_check=list(HealthCheck),
        )
        @given(graph_cases())
        def one_graph(case: GraphCase) -> None:
            tally.add(run_case(runner, root, rng, graph_maker(case), args.keep))
            progress()

        one_graph()
        runner.close()
    elapsed = time.perf_counter() - start
    summary = tally.summary() | {
        "mutated_examples": mutants,
        "hypothesis_graphs": tally.cases - mutants,
        "seconds": round(elapsed, 1),
        "cases_per_second": round(tally.cases / elapsed, 2),
        "seed": args.seed,
    }
    print(json.dumps(summary, indent=2))
    for outcome in tally.bad[:50]:
        print(f"\n--- {outcome.code} traceback={outcome.traceback} modified={outcome.modified}")
        print("nnport " + " ".join(outcome.argv))
        print(outcome.stderr[-1500:])
    for outcome in tally.noisy_examples[:10]:
        print(f"\n--- stderr over one line (exit {outcome.code})")
        print("nnport " + " ".join(outcome.argv))
        print(outcome.stderr[-1500:])
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 1 if tally.bad else 0


if __name__ == "__main__":
    sys.exit(main())
