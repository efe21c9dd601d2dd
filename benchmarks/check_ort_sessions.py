"""`check --target onnxruntime` against ONNX Runtime itself on the whole ONNX backend node suite.

For each of the 1,884 cases: does `check` call it deployable (graph I/O dtypes and run-time
kernel limits aside: a session with a bfloat16 input still creates), and does an ONNX Runtime
CPU session create? Prints the
agreement and both kinds of disagreement. ``tests/test_check_node_suite.py`` holds a 1-in-7
sample of the suite to the same comparison in the test suite.

    python benchmarks/check_ort_sessions.py
"""

from __future__ import annotations

import logging
import sys
import time
import warnings

import onnx_ir as ir
import onnxruntime as ort
from onnx.backend.test.loader import load_model_tests

from nnport.check import check
from nnport.targets import load_target

# refusals that show only when the session runs
RUN_TIME = ("io-dtype", "input-not-scalar", "shape-unsupported")


def _creates(data: bytes) -> bool:
    options = ort.SessionOptions()
    options.log_severity_level = 4
    try:
        ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception:
        return False
    return True


def main() -> int:
    warnings.filterwarnings("ignore", category=RuntimeWarning)  # the suite's own numpy overflows
    logging.getLogger("nnport").setLevel(logging.ERROR)
    profile = load_target("onnxruntime")
    start = time.perf_counter()
    total = agree = 0
    refused_but_runs: list[str] = []
    accepted_but_fails: list[str] = []
    for case in sorted(load_model_tests(kind="node"), key=lambda c: c.name):
        if case.model is None:
            continue
        model = ir.serde.deserialize_model(case.model)
        # a session with a bfloat16 input, a per-channel ConvInteger zero point, or a shape a
        # kernel refuses when it runs (an empty bool ReduceMax) creates
        verdict = not [v for v in check(model, profile).violations if v.rule not in RUN_TIME]
        runs = _creates(case.model.SerializeToString())
        total += 1
        agree += verdict == runs
        if runs and not verdict:
            refused_but_runs.append(case.name)
        elif verdict and not runs:
            accepted_but_fails.append(case.name)
    print(f"onnxruntime {ort.__version__}: check and session creation agree on {agree} of "
          f"{total} node-suite cases ({100 * agree / total:.1f}%), {time.perf_counter() - start:.0f} s")  # fmt: skip
    print(f"refused but a session creates ({len(refused_but_runs)}): {refused_but_runs}")
    print(f"accepted but no session ({len(accepted_but_fails)}): {accepted_but_fails}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
