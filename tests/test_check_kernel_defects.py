"""Shapes a kernel refuses only when it runs (rule shape-unsupported): an empty bool ReduceMax
on ONNX Runtime, an Attention mask shorter than its keys on ONNX Runtime and OpenVINO. Each is
recorded in a profile only while its repro fails and its control runs; check flags the node-suite
cases that hit them, and the runtimes really refuse those."""

from __future__ import annotations

import pytest

from nnport.backends import make_runner
from nnport.check import check
from nnport.check.defects.registry import DEFECTS
from nnport.errors import BackendError
from nnport.probe.engine import case_inputs, load_cases
from nnport.probe.reproduce import reproduces
from nnport.targets import load_target

KERNEL_DEFECTS = ("reduce-empty-bool", "attention-mask-length", "attention-mask-length-padded")
# which runtime has which defect, measured (onnxruntime 1.32, openvino 2026.4)
HAS = {
    "onnxruntime": set(KERNEL_DEFECTS),
    "openvino": {"attention-mask-length"},
}


@pytest.mark.parametrize("backend", sorted(HAS))
def test_each_defect_reproduces_where_the_profile_says(backend: str) -> None:
    pytest.importorskip(backend)
    found = {name for name in KERNEL_DEFECTS if reproduces(name, backend)}
    assert found == HAS[backend]  # an upgrade that fixes one: regenerate the profile
    assert set(load_target(backend).graph.defects) & set(KERNEL_DEFECTS) == HAS[backend]
    assert all(DEFECTS[name].rule == "shape-unsupported" for name in KERNEL_DEFECTS)


@pytest.mark.parametrize(
    ("case_name", "backend", "refused"),
    [
        ("test_reduce_max_empty_set_bool", "onnxruntime", True),
        ("test_reduce_max_empty_set", "onnxruntime", False),  # float: -inf, runs
        ("test_attention_4d_diff_heads_mask4d_padded_kv", "onnxruntime", True),
        ("test_attention_4d_diff_heads_mask4d_padded_kv", "openvino", False),
    ],
)
def test_check_agrees_with_the_runtime(case_name: str, backend: str, refused: bool) -> None:
    pytest.importorskip(backend)
    import onnx_ir as ir

    (case,) = load_cases(names=[case_name])
    model, inputs = case_inputs(case)
    report = check(ir.serde.deserialize_model(model), backend)
    rules = {v.rule for v in report.violations}
    assert ("shape-unsupported" in rules) == refused, report.violations
    loaded = ir.serde.deserialize_model(model)
    feeds = {v.name: x for v, x in zip(loaded.graph.inputs, inputs, strict=False)}
    if refused:
        with pytest.raises(BackendError), make_runner(backend, loaded) as runner:
            runner.infer(feeds)
    else:
        with make_runner(backend, loaded) as runner:
            runner.infer(feeds)
