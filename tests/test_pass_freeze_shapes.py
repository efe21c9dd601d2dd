"""freeze-shapes and fold-constants: dynamic dims frozen, Shape chains folded, data-dependent shapes named."""

from __future__ import annotations

import onnx
import onnx_ir as ir
import pytest

from nnport.model.io import load
from nnport.passes.base import Decline, static_shape
from nnport.passes.fold_constants import FoldConstantsPass
from nnport.passes.freeze_shapes import FreezeShapesPass
from nnport.passes.verify import apply_verified
from nnport.verify.inputs import generate_inputs


def test_dynamic_input_is_frozen_and_its_shape_chain_folded(examples_dir) -> None:  # type: ignore[no-untyped-def]
    model = load(examples_dir / "dynamic_input.onnx")
    shapes = {"x": (2, 3, 16, 16)}
    feeds = generate_inputs(model, shapes)
    new, drift = apply_verified(FreezeShapesPass(shapes), model, feeds)
    assert drift.ok and drift.max_abs == 0.0
    ops = [n.op_type for n in new.graph]
    assert "Shape" not in ops and "Gather" not in ops and "Concat" not in ops
    assert static_shape(new.graph.inputs[0]) == (2, 3, 16, 16)
    assert static_shape(new.graph.outputs[0]) == (2, 10)
    reshape = next(n for n in new.graph if n.op_type == "Reshape")
    assert reshape.inputs[1] is not None and reshape.inputs[1].const_value is not None


def test_batch_defaults_to_one_but_image_dims_must_be_given(examples_dir) -> None:  # type: ignore[no-untyped-def]
    lp = load(examples_dir / "lp_normalization.onnx")
    FreezeShapesPass()(lp)
    assert static_shape(lp.graph.inputs[0]) == (1, 32)
    with pytest.raises(Decline, match="give --input-shape x:Nx3xNxN"):
        FreezeShapesPass()(load(examples_dir / "dynamic_input.onnx"))


def test_data_dependent_shape_is_reported() -> None:
    model = ir.serde.deserialize_model(
        onnx.parser.parse_model("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[N,4] x) => (int64[2,?] y) { y = NonZero(x) }
    """)
    )
    pass_ = FreezeShapesPass({"x": (3, 4)})
    assert pass_(model).modified
    assert any("data-dependent" in d and "NonZero" in d for d in pass_.declined)


def test_fold_constants_turns_weight_arithmetic_into_an_initializer() -> None:
    model = ir.serde.deserialize_model(
        onnx.parser.parse_model("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[2,3] x) => (float[2,3] y) {
            a = Constant<value=float[3] {1,2,3}>()
            b = Mul(a, a)
            r = Constant<value=int64[2] {1,3}>()
            c = Reshape(b, r)
            y = Add(x, c)
        }
    """)
    )
    pass_ = FoldConstantsPass()
    new, drift = apply_verified(pass_, model, generate_inputs(model))
    assert drift.ok
    assert [n.op_type for n in new.graph] == ["Add"]
    add = next(iter(new.graph))
    assert add.inputs[1] is not None and add.inputs[1].const_value is not None


def test_fold_constants_folds_small_constant_of_shape_chains() -> None:
    # PyTorch's x.expand(1, -1, -1) of a parameter: Where(Equal(shape, -1), ConstantOfShape, ...)
    model = ir.serde.deserialize_model(
        onnx.parser.parse_model("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[1,3,4] x) => (float[1,3,4] y) {
            p = Constant<value=float[1,1,4] {1,2,3,4}>()
            target = Constant<value=int64[3] {1,-1,-1}>()
            n = Constant<value=int64[1] {3}>()
            ones = ConstantOfShape<value=int64[1] {1}>(n)
            minus = Constant<value=int64 {-1}>()
            m = Mul(ones, minus)
            eq = Equal(target, m)
            shape = Where(eq, ones, target)
            e = Expand(p, shape)
            y = Add(x, e)
        }
    """)
    )
    new, drift = apply_verified(FoldConstantsPass(), model, generate_inputs(model))
    assert drift.ok
    assert [n.op_type for n in new.graph] == ["Add"]
