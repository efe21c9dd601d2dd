"""rewrite-tile: Tile/Expand removed when consumers broadcast, else Resize or Concat, else declined."""

from __future__ import annotations

from graphs import ops
from graphs import parse_inferred as parse
from nnport.passes.rewrite_tile import RewriteTilePass
from nnport.passes.verify import apply_verified
from nnport.verify.inputs import generate_inputs


def test_tile_into_broadcasting_mul_is_removed() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[1,8,1,1] s, float[2,8,16,16] a) => (float[2,8,16,16] y) {
            r = Constant<value=int64[4] {1,1,16,16}>()
            t = Tile(s, r)
            y = Mul(a, t)
        }
    """)
    new, drift = apply_verified(RewriteTilePass(), model, generate_inputs(model))
    assert drift.ok and drift.max_abs == 0.0
    assert "Tile" not in ops(new)


def test_expand_into_broadcasting_add_is_removed() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[1,4] s, float[3,4] a) => (float[3,4] y) {
            r = Constant<value=int64[2] {3,4}>()
            t = Expand(s, r)
            y = Add(t, a)
        }
    """)
    new, drift = apply_verified(RewriteTilePass(), model, generate_inputs(model))
    assert drift.ok
    assert ops(new) == ["Constant", "Add"]


def test_one_by_one_map_tiled_to_hw_becomes_nearest_resize() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[1,3,1,1] x) => (float[1,3,4,5] y) {
            r = Constant<value=int64[4] {1,1,4,5}>()
            t = Tile(x, r)
            y = Relu(t)
        }
    """)
    new, drift = apply_verified(RewriteTilePass(), model, generate_inputs(model))
    assert drift.ok and drift.max_abs == 0.0
    assert "Resize" in ops(new) and "Tile" not in ops(new)


def test_tile_along_one_axis_becomes_concat_of_copies() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[2,3] a) => (float[2,9] y) {
            r = Constant<value=int64[2] {1,3}>()
            y = Tile(a, r)
        }
    """)
    new, drift = apply_verified(RewriteTilePass(), model, generate_inputs(model))
    assert drift.ok
    concat = next(n for n in new.graph if n.op_type == "Concat")
    assert len(concat.inputs) == 3 and concat.attributes["axis"].as_int() == 1


def test_declines_a_tile_that_does_not_broadcast_with_computed_repeats() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[2,3] a, int64[2] r) => (float[?,?] y) { y = Tile(a, r) }
    """)
    pass_ = RewriteTilePass()
    assert not pass_(model).modified
    assert "computed at run time" in pass_.declined[0]
    assert "Tile" in ops(model)


def test_declines_a_tile_needing_too_many_copies() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[2,3] a) => (float[200,3] y) {
            r = Constant<value=int64[2] {100,1}>()
            y = Tile(a, r)
        }
    """)
    pass_ = RewriteTilePass()
    assert not pass_(model).modified
    assert "100 copies" in pass_.declined[0]
