"""decompose-gather-elements: flat Gather with computed or precomputed indices, one-hot MatMul."""

from __future__ import annotations

from graphs import parse_inferred as parse
from nnport.model.io import load
from nnport.passes.decompose_gather_elements import DecomposeGatherElementsPass
from nnport.passes.fold_constants import infer_shapes
from nnport.passes.verify import apply_verified
from nnport.verify.inputs import generate_inputs

CONST = """
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[3,4,5] x) => (float[3,2,5] y) {
        i = Constant<value=int64[3,2,5] {0,1,2,3,3,2,1,0,0,1, 0,1,2,3,3,2,1,0,0,1, 0,1,2,3,3,2,1,0,0,-1}>()
        y = GatherElements<axis=1>(x, i)
    }
"""


def test_runtime_indices_become_flat_gather(examples_dir) -> None:  # type: ignore[no-untyped-def]
    model = load(examples_dir / "gather_elements.onnx")
    infer_shapes(model)
    feeds = generate_inputs(model, samples=3, seed=1)
    assert feeds[0]["ind"].max() < 64  # range-aware inputs: valid indices
    new, drift = apply_verified(DecomposeGatherElementsPass(), model, feeds)
    assert drift.ok and drift.max_abs == 0.0
    assert "GatherElements" not in {n.op_type for n in new.graph}
    assert "Gather" in {n.op_type for n in new.graph}


def test_constant_indices_are_precomputed_including_negative_ones() -> None:
    model = parse(CONST)
    new, drift = apply_verified(DecomposeGatherElementsPass(), model, generate_inputs(model))
    assert drift.ok and drift.max_abs == 0.0
    assert {n.op_type for n in new.graph} == {"Constant", "Reshape", "Gather"}


def test_nnie_like_target_gets_a_one_hot_matmul() -> None:
    model = parse(CONST)
    pass_ = DecomposeGatherElementsPass(has_op=lambda op: op != "Gather")
    new, drift = apply_verified(pass_, model, generate_inputs(model))
    assert drift.ok
    assert "MatMul" in {n.op_type for n in new.graph}
    assert "Gather" not in {n.op_type for n in new.graph}


def test_declines_when_the_target_has_neither_gather_nor_matmul() -> None:
    model = parse(CONST)
    pass_ = DecomposeGatherElementsPass(has_op=lambda op: op not in ("Gather", "MatMul"))
    assert not pass_(model).modified
    assert "neither Gather nor MatMul" in pass_.declined[0]


def test_declines_on_dynamic_shapes() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[N,4] x, int64[N,2] i) => (float[N,2] y) { y = GatherElements<axis=1>(x, i) }
    """)
    pass_ = DecomposeGatherElementsPass()
    assert not pass_(model).modified
    assert "static shapes" in pass_.declined[0]
