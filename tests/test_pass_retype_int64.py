"""retype-int64: every DESIGN.md pitfall of int64 → int32 retyping has a test here."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir
import pytest

from graphs import parse
from nnport.passes.base import Decline, all_nodes
from nnport.passes.fold_constants import infer_shapes
from nnport.passes.retype_int64 import RetypeInt64Pass
from nnport.passes.verify import apply_verified, run_model


def int64_values(model: ir.Model) -> int:
    """How many node outputs are int64 (the count a retype must not raise)."""
    return sum(1 for n in all_nodes(model.graph) for o in n.outputs if o.dtype == ir.DataType.INT64)


X = np.random.default_rng(0).standard_normal((2, 5)).astype(np.float32) * 3


def test_if_subgraphs_are_retyped_with_the_main_graph() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[2,5] x, bool c) => (float[2,5] z) {
            s = Shape(x)
            cs = ConstantOfShape<value=int64[1] {7}>(s)
            csf = Cast<to=1>(cs)
            z = If(c) <
                then_branch = g1 () => (float[2,5] t) { t = Add(x, csf) },
                else_branch = g2 () => (float[2,5] e) {
                    e2 = Cast<to=7>(x)
                    e3 = Add(e2, cs)
                    e = Cast<to=1>(e3)
                }
            >
        }
    """)
    for c in (True, False):
        feeds = [{"x": X, "c": np.array(c)}]
        new, drift = apply_verified(RetypeInt64Pass(), model, feeds)
        assert drift.ok, drift.reason
        assert drift.engine == "onnxruntime"  # ORT loads it: types agree across subgraphs
    else_branch = next(n for n in new.graph if n.op_type == "If").attributes["else_branch"]
    casts = [n for n in else_branch.as_graph() if n.op_type == "Cast"]
    assert casts[0].attributes["to"].as_int() == ir.DataType.INT32.value


def test_constant_of_shape_data_is_converted_not_relabelled() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[2,5] x) => (float[2,5] y) {
            s = Shape(x)
            cs = ConstantOfShape<value=int64[1] {-3}>(s)
            f = Cast<to=1>(cs)
            y = Add(x, f)
        }
    """)
    new, drift = apply_verified(RetypeInt64Pass(), model, [{"x": X}])
    assert drift.ok
    node = next(n for n in new.graph if n.op_type == "ConstantOfShape")
    tensor = node.attributes["value"].as_tensor()
    assert tensor.dtype == ir.DataType.INT32
    assert tensor.numpy().dtype == np.int32 and tensor.numpy().tolist() == [-3]
    assert len(tensor.tobytes()) == 4  # 4 bytes of int32, not 8 bytes of int64 relabelled


def test_cast_pair_through_int64_is_a_truncation_and_is_kept() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[2,5] x) => (float[2,5] y) {
            i = Cast<to=7>(x)
            y = Cast<to=1>(i)
        }
    """)
    feeds = [{"x": np.array([[2.7, -2.7, 0.5, -0.5, 9.99]] * 2, np.float32)}]
    new, drift = apply_verified(RetypeInt64Pass(), model, feeds)
    assert drift.ok and drift.max_abs == 0.0
    casts = [n.attributes["to"].as_int() for n in new.graph if n.op_type == "Cast"]
    assert casts == [ir.DataType.INT32.value, ir.DataType.FLOAT.value]
    _, out = run_model(new, feeds)
    assert out[0]["y"][0].tolist() == [2.0, -2.0, 0.0, 0.0, 9.0]


def test_topk_k_stays_int64() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[2,5] x) => (float[2,3] v, int32[2,3] j) {
            k = Constant<value=int64[1] {3}>()
            v, i = TopK(x, k)
            j = Cast<to=6>(i)
        }
    """)
    new, drift = apply_verified(RetypeInt64Pass(), model, [{"x": X}])
    assert drift.ok
    topk = next(n for n in new.graph if n.op_type == "TopK")
    assert topk.inputs[1] is not None and topk.inputs[1].dtype == ir.DataType.INT64


def test_int64_count_goes_down_not_up() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[2,5] x) => (float[2,5] y) {
            a = Cast<to=7>(x)
            b = Add(a, a)
            c = Mul(b, a)
            d = Sub(c, a)
            y = Cast<to=1>(d)
        }
    """)
    infer_shapes(model)
    before = int64_values(model)
    assert before == 4
    new, drift = apply_verified(RetypeInt64Pass(), model, [{"x": X}])
    assert drift.ok
    assert int64_values(new) < before
    assert int64_values(new) == 0


def test_mixed_int32_int64_binary_op_gets_an_explicit_cast() -> None:
    model = parse(
        """
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[2,5] x) => (float[2] y) {
            s = Shape(x)
            one = Constant<value=int64 {1}>()
            t = Add(s, one)
            u = Sub(t, one)
            r = Reshape(x, u)
            y = ReduceSum<keepdims=0>(r)
            y = Cast<to=1>(u)
        }
    """.replace("            y = ReduceSum<keepdims=0>(r)\n", "").replace(
            "(float[2] y)", "(float[2] y, float[2,5] r)"
        )
    )
    new, drift = apply_verified(RetypeInt64Pass(), model, [{"x": X}])
    assert drift.ok, drift.reason
    add = next(n for n in new.graph if n.op_type == "Add")
    assert add.inputs[0] is not None and add.inputs[0].producer() is not None
    assert add.inputs[0].producer().op_type == "Cast"  # type: ignore[union-attr]
    reshape = next(n for n in new.graph if n.op_type == "Reshape")
    assert reshape.inputs[1] is not None and reshape.inputs[1].dtype == ir.DataType.INT64


def test_declines_a_constant_out_of_int32_range_without_changing_anything() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[2,5] x) => (float[2,5] y) {
            big = Constant<value=int64 {7000000000}>()
            i = Cast<to=7>(x)
            j = Add(i, big)
            y = Cast<to=1>(j)
        }
    """)
    infer_shapes(model)  # the pass infers types first; only that may differ
    snapshot = ir.serde.serialize_model(model).SerializeToString()
    with pytest.raises(Decline, match=r"7000000000.*does not fit in int32"):
        RetypeInt64Pass()(model)
    assert ir.serde.serialize_model(model).SerializeToString() == snapshot


def test_float64_becomes_float32_with_converted_initializers() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[2,5] x) => (float[2,5] y) {
            d = Cast<to=11>(x)
            w = Constant<value=double[5] {0.5, 1.5, -2.0, 3.25, 0.125}>()
            e = Mul(d, w)
            y = Cast<to=1>(e)
        }
    """)
    new, drift = apply_verified(RetypeInt64Pass(), model, [{"x": X}])
    assert drift.ok
    assert all(o.dtype != ir.DataType.DOUBLE for n in new.graph for o in n.outputs)


def test_loop_iteration_counter_keeps_int64() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[2,5] x) => (float[2,5] y) {
            n = Constant<value=int64 {3}>()
            cond = Constant<value=bool {1}>()
            z = Constant<value=int64 {0}>()
            acc = Loop(n, cond, z) <body = b (int64 it, bool c_in, int64 a_in) => (bool c_out, int64 a_out) {
                c_out = Identity(c_in)
                a_out = Add(a_in, it)
            }>
            f = Cast<to=1>(acc)
            y = Add(x, f)
        }
    """)
    new, drift = apply_verified(RetypeInt64Pass(), model, [{"x": X}])
    assert drift.ok, drift.reason
    loop = next(n for n in new.graph if n.op_type == "Loop")
    body = loop.attributes["body"].as_graph()
    assert body.inputs[0].dtype == ir.DataType.INT64
    assert body.inputs[2].dtype == ir.DataType.INT32
