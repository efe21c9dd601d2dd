"""`check` against ONNX Runtime itself on the ONNX backend node suite (a deterministic sample).

ONNX Runtime is the one target that runs here in-process, so its profile can be held to
reality: a node-suite case `check` calls deployable must create a session, and one it refuses
must fail to (the full sweep is in docs/check.md; this samples every 7th case).
"""

from __future__ import annotations

import logging

import onnx_ir as ir
import pytest

from nnport.targets import check, load_target

ort = pytest.importorskip("onnxruntime")

# Cases whose failure `check` cannot see: CastLike's body is built from the node's types (float4
# here), as is bfloat16 Attention's (its Expand has no bfloat16 kernel).
BLIND = ("test_castlike_float4", "test_attention_3d_causal_bf16", "test_attention_4d_attn_mask_causal_bf16",
         "test_attention_4d_causal_bf16", "test_attention_4d_causal_padded_kv_bf16",
         "test_attention_4d_padded_kv_bf16")  # fmt: skip


def _castlike_float4(name: str) -> bool:
    """CastLike from or to float4 (any width on the other side): its body is type-built."""
    return name.startswith("test_castlike_") and "float4" in name


def _session_ok(data: bytes) -> tuple[bool, str]:
    options = ort.SessionOptions()
    options.log_severity_level = 4
    try:
        ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        return False, str(exc).splitlines()[0][:160]
    return True, ""


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the suite's own numpy overflows
def test_onnxruntime_profile_agrees_with_onnxruntime(caplog: pytest.LogCaptureFixture) -> None:
    from onnx.backend.test.loader import load_model_tests

    caplog.set_level(logging.ERROR, logger="nnport")  # restored after the test
    profile = load_target("onnxruntime")
    # Sorted: the loader's order follows the file system, so an unsorted sample is not stable.
    cases = sorted(load_model_tests(kind="node"), key=lambda c: c.name)[::7]
    refused_but_runs, accepted_but_fails, total = [], [], 0
    for case in cases:
        name = case.name.lower()
        if case.model is None or name.startswith(BLIND) or _castlike_float4(name):
            continue
        model = ir.serde.deserialize_model(case.model)
        # io-dtype: the profile refuses graph inputs/outputs numpy cannot hold (bfloat16,
        # float8, int4); a session still creates, so only the kernel-level verdict is compared.
        verdict = not [v for v in check(model, profile).violations if v.rule != "io-dtype"]
        runs, why = _session_ok(case.model.SerializeToString())
        total += 1
        if not verdict and runs:
            refused_but_runs.append(case.name)
        if verdict and not runs and "NOT_IMPLEMENTED" in why:
            accepted_but_fails.append(f"{case.name}: {why}")
    assert total > 200
    assert refused_but_runs == []
    assert accepted_but_fails == []
