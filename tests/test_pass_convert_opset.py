"""convert-opset: down across the usual snags (Split/Squeeze/Unsqueeze/Reduce* axes, Resize), and up."""

from __future__ import annotations

import onnx
import onnx_ir as ir
import pytest

from graphs import parse
from nnport.model.io import load
from nnport.passes.base import Decline, default_opset
from nnport.passes.convert_opset import ConvertOpsetPass
from nnport.passes.verify import apply_verified
from nnport.verify.inputs import generate_inputs

SNAGS = """
    <ir_version: 8, opset_import: ["" : 18]>
    g (float[1,4,8,8] x) => (float[1,2,16,16] y, float[1,2,1,1] s, float[1,4,1,1] z, float[4,1,8,8] w) {
        sp = Constant<value=int64[2] {2,2}>()
        a, b = Split<axis=1>(x, sp)
        ax = Constant<value=int64[2] {2,3}>()
        s = ReduceSum(b, ax)
        sc = Constant<value=float[4] {1.0,1.0,2.0,2.0}>()
        y = Resize<mode="nearest">(a, , sc)
        z = ReduceMean(x, ax)
        ax0 = Constant<value=int64[1] {0}>()
        ax1 = Constant<value=int64[1] {1}>()
        q = Squeeze(x, ax0)
        w = Unsqueeze(q, ax1)
    }
"""


@pytest.mark.parametrize("version", [13, 12, 11])
def test_axes_inputs_and_resize_go_down(version: int) -> None:
    model = parse(SNAGS)
    new, drift = apply_verified(ConvertOpsetPass(version), model, generate_inputs(model))
    assert drift.ok, drift.reason
    assert default_opset(new) == version
    onnx.checker.check_model(ir.serde.serialize_model(new), full_check=True)
    if version < 13:
        split = next(n for n in new.graph if n.op_type == "Split")
        assert list(split.attributes["split"].as_ints()) == [2, 2]


def test_layernorm_is_decomposed_before_going_below_17(examples_dir) -> None:  # type: ignore[no-untyped-def]
    model = load(examples_dir / "opset17.onnx")
    new, drift = apply_verified(ConvertOpsetPass(13), model, generate_inputs(model))
    assert drift.ok, drift.reason
    assert default_opset(new) == 13
    assert "LayerNormalization" not in {n.op_type for n in new.graph}


def test_up_conversion_uses_the_onnx_converter() -> None:
    model = parse("""
        <ir_version: 7, opset_import: ["" : 11]>
        g (float[2,6] x) => (float[2,3] a, float[2,3] b) { a, b = Split<axis=1, split=[3,3]>(x) }
    """)
    new, drift = apply_verified(ConvertOpsetPass(13), model, generate_inputs(model))
    assert drift.ok
    split = next(n for n in new.graph if n.op_type == "Split")
    assert "split" not in split.attributes and len(split.inputs) == 2


def test_declines_computed_axes() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[1,4] x, int64[1] ax) => (float[4] y) { y = Squeeze(x, ax) }
    """)
    with pytest.raises(Decline, match="computed, not a constant"):
        ConvertOpsetPass(11)(model)


def test_reshape_allowzero_dropped_only_when_the_shape_has_no_zero() -> None:
    # torch exports Reshape<allowzero=1> (ViT-B/16); with no 0 in the shape it means the same.
    model = parse("""
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[2,6] x) => (float[3,4] y) {
            s = Constant<value=int64[2] {3,4}>()
            y = Reshape<allowzero=1>(x, s)
        }
    """)
    new, drift = apply_verified(ConvertOpsetPass(13), model, generate_inputs(model))
    assert drift.ok and default_opset(new) == 13
    assert "allowzero" not in next(n for n in new.graph if n.op_type == "Reshape").attributes
    zero = parse("""
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[2,0] x) => (float[0,2] y) {
            s = Constant<value=int64[2] {0,2}>()
            y = Reshape<allowzero=1>(x, s)
        }
    """)
    with pytest.raises(Decline, match="allowzero"):
        ConvertOpsetPass(13)(zero)
