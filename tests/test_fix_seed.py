"""Seed regressions: each DESIGN.md fixer pitfall goes check -> fix -> check -> compare (ascend310)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx_ir as ir
import pytest

from nnport.check import check
from nnport.model.io import load
from nnport.passes import fix
from nnport.passes.base import all_nodes
from nnport.passes.fold_constants import infer_shapes
from nnport.passes.verify import drift, run_model
from nnport.verify.inputs import generate_inputs

SEED = Path(__file__).resolve().parent / "seed"
DEPLOYABLE = [
    "if_subgraph_int64",
    "constant_of_shape_raw",
    "cast_truncation",
    "topk_k_int64",
    "int64_region",
]


def roundtrip(model: ir.Model, tmp_path: Path) -> ir.Model:
    path = tmp_path / "fixed.onnx"
    ir.save(model, path)
    return load(path)  # validates with onnx.checker


@pytest.mark.parametrize("name", DEPLOYABLE)
def test_seed_is_fixed_and_keeps_its_numbers(name: str, tmp_path: Path) -> None:
    original = load(SEED / f"{name}.onnx")
    assert not check(original, "ascend310").deployable
    result = fix(original, "ascend310")
    assert result.deployable and result.verified, result.remaining
    fixed = roundtrip(result.model, tmp_path)
    assert check(fixed, "ascend310").deployable
    # Fresh inputs (another seed, wider range: negatives and fractions exercise truncation).
    feeds = generate_inputs(original, samples=3, seed=7)
    for feed in feeds:
        for key in feed:
            feed[key] = (feed[key] * 5).astype(feed[key].dtype)
    _, before = run_model(original, feeds)
    engine, after = run_model(fixed, feeds)
    assert engine == "onnxruntime"  # ORT loads the fixed model: no invalid graph
    result_drift = drift(before, after, rtol=1e-4, atol=1e-5)
    assert result_drift.ok and result_drift.max_abs == 0.0, result_drift.reason


def test_if_branches_are_retyped_too() -> None:
    result = fix(load(SEED / "if_subgraph_int64.onnx"), "ascend310")
    node = next(n for n in result.model.graph if n.op_type == "If")
    for branch in ("then_branch", "else_branch"):
        out = node.attributes[branch].as_graph().outputs[0]
        assert out.dtype == ir.DataType.INT32


def test_constant_of_shape_holds_int32_bytes() -> None:
    result = fix(load(SEED / "constant_of_shape_raw.onnx"), "ascend310")
    node = next(n for n in result.model.graph if n.op_type == "ConstantOfShape")
    tensor = node.attributes["value"].as_tensor()
    assert tensor.dtype == ir.DataType.INT32 and len(tensor.tobytes()) == 4


def test_cast_pair_survives() -> None:
    result = fix(load(SEED / "cast_truncation.onnx"), "ascend310")
    assert [n.op_type for n in result.model.graph].count("Cast") == 2
    _, out = run_model(result.model, [{"x": np.array([[0.9, -0.9, 1.2, -1.2]] * 2, np.float32)}])
    assert out[0]["y"][0].tolist() == [2.0, -2.0, 3.0, -3.0]


def test_topk_k_stays_int64() -> None:
    result = fix(load(SEED / "topk_k_int64.onnx"), "ascend310")
    topk = next(n for n in result.model.graph if n.op_type == "TopK")
    assert topk.inputs[1] is not None and topk.inputs[1].dtype == ir.DataType.INT64


def test_int64_count_only_goes_down() -> None:
    original = load(SEED / "int64_region.onnx")
    counted = original.clone()
    infer_shapes(counted)

    def count(model: ir.Model) -> int:
        return sum(o.dtype == ir.DataType.INT64 for n in all_nodes(model.graph) for o in n.outputs)

    result = fix(original, "ascend310")
    assert count(counted) == 5 and count(result.model) == 0


def test_one_unfixable_rule_does_not_abort_the_others() -> None:
    original = load(SEED / "one_rule_fails.onnx")
    result = fix(original, "ascend310")
    assert not result.deployable and result.verified
    kept = {p.fix for p in result.passes if p.kept}
    assert "retype-int64" in kept  # the Cast to int64 was still fixed
    by_op = {r.op: r for r in result.remaining}
    assert by_op["Trilu"].reason == "no pass resolves this rule"
    assert "Trilu" in next(r.reason for r in result.remaining if r.rule == "opset-out-of-range")
