"""reducemean-to-pool and materialize-broadcast: rewrites Caffe-like targets (NNIE) need."""

from __future__ import annotations

from graphs import ops
from graphs import parse_inferred as parse
from nnport.passes.base import static_shape
from nnport.passes.fold_constants import infer_shapes
from nnport.passes.materialize_broadcast import MaterializeBroadcastPass
from nnport.passes.replace_reduce_mean import ReplaceReduceMeanPass
from nnport.passes.verify import apply_verified
from nnport.verify.inputs import generate_inputs


def test_spatial_reduce_mean_becomes_global_average_pool() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[2,8,5,7] x) => (float[2,8] y, float[2,8,1,1] z) {
            y = ReduceMean<axes=[2,3], keepdims=0>(x)
            z = ReduceMean<axes=[-1,-2], keepdims=1>(x)
        }
    """)
    new, drift = apply_verified(ReplaceReduceMeanPass(), model, generate_inputs(model))
    assert drift.ok, drift.reason
    assert ops(new) == ["GlobalAveragePool", "Flatten", "GlobalAveragePool"]


def test_reduce_mean_over_channels_is_declined() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[2,8,5,7] x) => (float[2,1,5,7] y) { y = ReduceMean<axes=[1]>(x) }
    """)
    pass_ = ReplaceReduceMeanPass()
    assert not pass_(model).modified
    assert "not the spatial axes" in pass_.declined[0]


def test_squeeze_excitation_gate_is_upsampled() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[1,8,6,6] x) => (float[1,8,6,6] y) {
            p = GlobalAveragePool(x)
            s = Sigmoid(p)
            y = Mul(x, s)
        }
    """)
    new, drift = apply_verified(MaterializeBroadcastPass(), model, generate_inputs(model))
    assert drift.ok and drift.max_abs == 0.0
    assert "Resize" in ops(new)
    infer_shapes(new)
    mul = next(n for n in new.graph if n.op_type == "Mul")
    assert [static_shape(v) for v in mul.inputs] == [(1, 8, 6, 6), (1, 8, 6, 6)]


def test_constant_operand_is_broadcast_into_a_full_constant() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[1,2,3,3] x) => (float[1,2,3,3] y) {
            c = Constant<value=float[1,1,1,3] {1.0, 2.0, 3.0}>()
            y = Add(x, c)
        }
    """)
    new, drift = apply_verified(MaterializeBroadcastPass(), model, generate_inputs(model))
    assert drift.ok
    add = next(n for n in new.graph if n.op_type == "Add")
    assert add.inputs[1] is not None and add.inputs[1].const_value is not None
    assert tuple(add.inputs[1].const_value.shape) == (1, 2, 3, 3)


def test_a_computed_operand_that_is_not_a_1x1_map_is_copied_along_channels() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[1,8,6,6] x, float[1,1,6,6] m) => (float[1,8,6,6] y) { y = Mul(x, m) }
    """)
    new, drift = apply_verified(MaterializeBroadcastPass(), model, generate_inputs(model))
    assert drift.ok and drift.max_abs == 0.0
    assert ops(new) == ["Concat", "Concat", "Concat", "Mul"]  # 8 copies: three doublings
    pass_ = MaterializeBroadcastPass(max_copies=4)
    assert not pass_(model).modified
    assert "needs 8 copies (more than 4)" in pass_.declined[0]


def test_channel_shuffle_becomes_an_exact_permutation_conv() -> None:
    from nnport.passes.rewrite_channel_shuffle import RewriteChannelShufflePass

    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[1,6,4,4] x) => (float[1,6,4,4] y) {
            s5 = Constant<value=int64[5] {1,2,3,4,4}>()
            a = Reshape(x, s5)
            t = Transpose<perm=[0,2,1,3,4]>(a)
            s4 = Constant<value=int64[4] {1,6,4,4}>()
            y = Reshape(t, s4)
        }
    """)
    new, drift = apply_verified(RewriteChannelShufflePass(), model, generate_inputs(model))
    assert drift.ok and drift.max_abs == 0.0
    assert [n.op_type for n in new.graph if n.op_type != "Constant"] == ["Conv"]


def test_a_transpose_that_is_not_a_shuffle_is_left_alone() -> None:
    from nnport.passes.rewrite_channel_shuffle import RewriteChannelShufflePass

    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[1,2,3,4,4] x) => (float[1,4,3,2,4] y) { y = Transpose<perm=[0,3,2,1,4]>(x) }
    """)
    assert not RewriteChannelShufflePass()(model).modified
