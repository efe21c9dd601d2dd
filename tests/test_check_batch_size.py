"""Rule batch-not-one (ncnn): ncnn has no batch axis, so a fixed first axis other than 1 is taken
as a batch and dropped. check flags the ops downstream of it; real conversions show why, and the
probe's batch-one variants separate that from what the op itself supports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from nnport.check import check
from nnport.model.io import load
from nnport.probe.batch import (
    BATCH_ONE,
    batch_free_ops,
    batch_one_variant,
    leading_dim,
)
from nnport.probe.engine import CaseOutcome, NodeUse
from nnport.targets import load_target


def _bn_model(batch: int | str) -> onnx.ModelProto:
    """x[batch,3,4,4] -> BatchNormalization -> Relu (per-channel statistics that differ)."""
    rng = np.random.default_rng(0)
    params = [
        numpy_helper.from_array(v.astype(np.float32), n)
        for n, v in (
            ("scale", rng.uniform(0.5, 2.0, 3)),
            ("bias", rng.standard_normal(3)),
            ("mean", rng.standard_normal(3)),
            ("var", rng.uniform(0.5, 2.0, 3)),
        )
    ]
    nodes = [
        helper.make_node("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["h"],
                         name="bn"),
        helper.make_node("Relu", ["h"], ["y"], name="relu"),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 3, 4, 4])], params,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def test_a_fixed_batch_of_two_is_flagged_on_ncnn_only(tmp_path: Path) -> None:
    onnx.save(_bn_model(2), tmp_path / "b2.onnx")
    report = check(load(tmp_path / "b2.onnx"), "ncnn")
    assert not report.deployable
    (v,) = [v for v in report.violations if v.rule == "batch-not-one"]
    assert v.node == "bn" and v.op == "BatchNormalization"
    assert "first axis is fixed at 2" in v.message and "'x'" in v.message
    assert "Relu" in load_target("ncnn").graph.batch_free_ops  # downstream Relu is not blamed
    for target in ("onnxruntime", "openvino"):
        other = check(load(tmp_path / "b2.onnx"), target)
        assert not [v for v in other.violations if v.rule == "batch-not-one"]


@pytest.mark.parametrize("batch", [1, "N"])
def test_batch_one_and_a_dynamic_batch_are_fine(tmp_path: Path, batch: int | str) -> None:
    onnx.save(_bn_model(batch), tmp_path / "m.onnx")
    shapes = {"x": (4, 3, 4, 4)} if batch == "N" else None  # the runner feeds samples one by one
    report = check(load(tmp_path / "m.onnx"), "ncnn", input_shapes=shapes)
    assert not [v for v in report.violations if v.rule == "batch-not-one"]


def test_ncnn_really_normalizes_the_wrong_axis_with_a_fixed_batch_of_two(tmp_path: Path) -> None:
    pytest.importorskip("ncnn")
    from nnport.backends import make_runner

    x = np.random.default_rng(1).standard_normal((2, 3, 4, 4)).astype(np.float32)
    errors = {}
    for batch in (2, "N"):
        path = tmp_path / f"m{batch}.onnx"
        onnx.save(_bn_model(batch), path)
        import onnxruntime as ort

        expected = ort.InferenceSession(str(path)).run(None, {"x": x})[0]
        with make_runner("ncnn", load(path), input_shapes={"x": x.shape}) as runner:
            got = next(iter(runner.infer({"x": x}).values()))
        errors[batch] = float(np.abs(got.reshape(expected.shape) - expected).max())
    assert errors["N"] < 1e-4  # dynamic batch: converted for one sample, run sample by sample
    assert errors[2] > 0.1  # fixed batch 2: the first axis is dropped as a batch, no error raised


def test_batch_one_variant_cuts_the_batched_inputs_and_recomputes_the_outputs() -> None:
    x = np.random.default_rng(2).standard_normal((2, 3, 4, 4)).astype(np.float32)
    assert leading_dim([x]) == 2 and leading_dim([x[:1]]) == 1 and leading_dim([]) == 0
    found = batch_one_variant(_bn_model(2), [x])
    assert found is not None
    model, inputs, expected = found
    assert inputs[0].shape == (1, 3, 4, 4)
    assert [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim] == [1, 3, 4, 4]
    import onnxruntime as ort

    whole = ort.InferenceSession(_bn_model(2).SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_allclose(expected[0], whole[:1], rtol=1e-6)  # the first sample's result
    assert batch_one_variant(_bn_model(1), [x[:1]]) is None  # nothing to cut


def test_the_profile_derivation_reads_batch_one_variants() -> None:
    def outcome(case: str, op: str, status: str, lead: int, variant: str = "") -> CaseOutcome:
        use = NodeUse(op, "", 13 if op != "BatchNormalization" else 15, ("float32",), ("float32",))
        return CaseOutcome(case, op, "", 13, 13, status, nodes=(use,), variant=variant,  # type: ignore[arg-type]
                           leading_dim=lead)  # fmt: skip

    outcomes = [
        outcome("bn", "BatchNormalization", "fail", 2),
        outcome("bn", "BatchNormalization", "pass", 1, BATCH_ONE),  # the op works per sample
        outcome("selu", "Selu", "fail", 3),
        outcome("selu", "Selu", "fail", 1, BATCH_ONE),  # the op itself fails
        outcome("relu", "Relu", "pass", 3),  # right even with a first axis of 3
    ]
    assert batch_free_ops(outcomes) == ("Relu",)
    from nnport.probe.derive import derive_profile
    from nnport.probe.engine import ProbeResult

    result = ProbeResult("ncnn", "pnnx", "2026-11-28", "test", 3, 1, tuple(outcomes))
    profile = derive_profile(result)
    assert profile.graph.batch_free_ops == ("Relu",)
    # the batch-2 failure is no evidence against BatchNormalization: its variant passed
    assert {r.op for r in profile.ops} == {"BatchNormalization", "Relu"}
