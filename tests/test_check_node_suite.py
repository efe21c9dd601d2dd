"""`check` against ONNX Runtime itself on the ONNX backend node suite (a deterministic sample).

ONNX Runtime is the one target that runs here in-process, so its profile can be held to
reality: a node-suite case `check` calls deployable must create a session, and one it refuses
must fail to (the full sweep is in docs/check.md; this samples every 7th case).
"""

from __future__ import annotations

import logging

import onnx_ir as ir
import pytest

from nnport.check import check
from nnport.targets import load_target

ort = pytest.importorskip("onnxruntime")


def _session_ok(data: bytes) -> tuple[bool, str]:
    options = ort.SessionOptions()
    options.log_severity_level = 4
    try:
        ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        return False, str(exc).splitlines()[0][:160]
    return True, ""


# rules whose refusals a session load does not show
RUN_TIME = ("io-dtype", "input-not-scalar", "shape-unsupported")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the suite's own numpy overflows
def test_onnxruntime_profile_agrees_with_onnxruntime(caplog: pytest.LogCaptureFixture) -> None:
    from onnx.backend.test.loader import load_model_tests

    caplog.set_level(logging.ERROR, logger="nnport")  # restored after the test
    profile = load_target("onnxruntime")
    # Sorted: the loader's order follows the file system, so an unsorted sample is not stable.
    cases = sorted(load_model_tests(kind="node"), key=lambda c: c.name)[::7]
    refused_but_runs, accepted_but_fails, total = [], [], 0
    for case in cases:
        if case.model is None:
            continue
        model = ir.serde.deserialize_model(case.model)
        # io-dtype: the profile refuses graph inputs/outputs numpy cannot hold (bfloat16,
        # float8, int4); input-not-scalar: a kernel's limit it enforces when it runs. A session
        # still creates, so only the load-time verdict is compared.
        verdict = not [v for v in check(model, profile).violations if v.rule not in RUN_TIME]
        runs, why = _session_ok(case.model.SerializeToString())
        total += 1
        if not verdict and runs:
            refused_but_runs.append(case.name)
        if verdict and not runs and "NOT_IMPLEMENTED" in why:
            accepted_but_fails.append(f"{case.name}: {why}")
    assert total > 200
    assert refused_but_runs == []
    assert accepted_but_fails == []


@pytest.mark.parametrize(
    "name",
    ["test_attention_3d_causal_bf16", "test_castlike_FLOAT_to_FLOAT4E2M1", "test_attention_3d"],
)
def test_context_dependent_function_bodies_are_checked(name: str) -> None:
    """ONNX Runtime runs a node without a kernel for its types through the op's function body,
    built from the node (bfloat16 causal Attention becomes an Expand with no bfloat16 kernel);
    check builds the same body and agrees with the session on these cases."""
    from nnport.probe.engine import load_cases

    (case,) = load_cases(names=[name])
    report = check(ir.serde.deserialize_model(case.model), "onnxruntime")
    kernel_level = [v for v in report.violations if v.rule != "io-dtype"]
    runs, why = _session_ok(case.model.SerializeToString())
    assert (not kernel_level) == runs, (kernel_level, why)
