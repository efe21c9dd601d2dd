"""Decompositions of HardSwish, HardSigmoid, Gelu, Mish, Clip, LayerNormalization, LpNormalization."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir
import pytest

from graphs import parse
from nnport.passes.base import FixPass
from nnport.passes.decompose_clip import DecomposeClipPass
from nnport.passes.decompose_gelu import DecomposeGeluPass
from nnport.passes.decompose_hardsigmoid import DecomposeHardSigmoidPass
from nnport.passes.decompose_hardswish import DecomposeHardSwishPass
from nnport.passes.decompose_layernorm import DecomposeLayerNormPass
from nnport.passes.decompose_lpnorm import DecomposeLpNormPass
from nnport.passes.decompose_mish import DecomposeMishPass
from nnport.passes.verify import apply_verified, run_model


def unary(op: str, opset: int, attrs: str = "") -> ir.Model:
    return parse(f"""
        <ir_version: 8, opset_import: ["" : {opset}]>
        g (float[2,3,8] x) => (float[2,3,8] y) {{ y = {op}{attrs}(x) }}
    """)


FEEDS = [{"x": (np.random.default_rng(0).standard_normal((2, 3, 8)) * 4).astype(np.float32)}]

CASES = [
    (DecomposeHardSwishPass, unary("HardSwish", 14), 14),
    (DecomposeHardSwishPass, unary("HardSwish", 17), 17),
    (DecomposeHardSigmoidPass, unary("HardSigmoid", 13, "<alpha=0.3, beta=0.4>"), 13),
    (DecomposeHardSigmoidPass, unary("HardSigmoid", 9), 9),
    (DecomposeGeluPass, unary("Gelu", 20), 20),
    (DecomposeGeluPass, unary("Gelu", 20, '<approximate="tanh">'), 20),
    (DecomposeMishPass, unary("Mish", 18), 18),
    (DecomposeLpNormPass, unary("LpNormalization", 13, "<axis=-1, p=2>"), 13),
    (DecomposeLpNormPass, unary("LpNormalization", 18, "<axis=1, p=1>"), 18),
]


@pytest.mark.parametrize(("pass_cls", "model", "opset"), CASES)
def test_decomposition_matches_onnxruntime(
    pass_cls: type[FixPass], model: ir.Model, opset: int
) -> None:
    op = next(iter(model.graph)).op_type
    new, drift = apply_verified(pass_cls(), model, FEEDS)
    assert drift.ok, drift.reason
    assert op not in {n.op_type for n in new.graph}
    assert op in {n.op_type for n in model.graph}  # the input model is untouched
    assert drift.engine == "onnxruntime"


def test_lpnorm_zero_rows_give_zeros_not_nan() -> None:
    model = unary("LpNormalization", 13, "<axis=-1, p=2>")
    new = DecomposeLpNormPass()(model.clone()).model
    feed = [{"x": np.zeros((2, 3, 8), np.float32)}]
    _, out = run_model(new, feed)
    assert np.all(out[0]["y"] == 0.0)


def test_lpnorm_without_reducel2_uses_sum_of_squares() -> None:
    model = unary("LpNormalization", 13, "<axis=-1, p=2>")
    new, drift = apply_verified(
        DecomposeLpNormPass(has_op=lambda op: op != "ReduceL2"), model, FEEDS
    )
    assert drift.ok
    assert "ReduceL2" not in {n.op_type for n in new.graph}
    assert "ReduceSum" in {n.op_type for n in new.graph}


def test_lpnorm_declines_p3() -> None:
    model = unary("LpNormalization", 13, "<axis=-1, p=3>")
    pass_ = DecomposeLpNormPass()
    assert not pass_(model).modified
    assert "p=3" in pass_.declined[0]


@pytest.mark.parametrize("opset", [17, 18])
def test_layernorm_decomposes_at_each_opset(opset: int) -> None:
    model = parse(f"""
        <ir_version: 8, opset_import: ["" : {opset}]>
        g (float[2,3,8] x, float[8] s, float[8] b) => (float[2,3,8] y) {{
            y = LayerNormalization<axis=-1, epsilon=0.001>(x, s, b)
        }}
    """)
    rng = np.random.default_rng(1)
    feeds = [
        {
            "x": rng.standard_normal((2, 3, 8)).astype(np.float32),
            "s": rng.standard_normal(8).astype(np.float32),
            "b": rng.standard_normal(8).astype(np.float32),
        }
    ]
    new, drift = apply_verified(DecomposeLayerNormPass(), model, feeds)
    assert drift.ok, drift.reason
    assert {n.op_type for n in new.graph} >= {"ReduceMean", "Sqrt", "Div"}


def test_layernorm_mean_and_inv_std_outputs_are_kept() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[2,8] x, float[8] s) => (float[2,8] y, float[2,1] m, float[2,1] r) {
            y, m, r = LayerNormalization<axis=-1>(x, s)
        }
    """)
    rng = np.random.default_rng(2)
    feeds = [{"x": rng.standard_normal((2, 8)).astype(np.float32),
              "s": rng.standard_normal(8).astype(np.float32)}]  # fmt: skip
    new, drift = apply_verified(DecomposeLayerNormPass(), model, feeds)
    assert drift.ok, drift.reason
    assert "LayerNormalization" not in [n.op_type for n in new.graph]


def test_clip_with_computed_bounds_becomes_min_max() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[2,3,8] x, float[1] lo) => (float[2,3,8] y) {
            hi = Neg(lo)
            y = Clip(x, lo, hi)
        }
    """)
    feeds = [{"x": FEEDS[0]["x"], "lo": np.array([-1.5], np.float32)}]
    new, drift = apply_verified(DecomposeClipPass(), model, feeds)
    assert drift.ok, drift.reason
    ops = [n.op_type for n in new.graph]
    assert "Clip" not in ops and "Max" in ops and "Min" in ops


def test_clip_with_constant_bounds_is_left_alone() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[2,3,8] x) => (float[2,3,8] y) {
            lo = Constant<value=float {0.0}>()
            hi = Constant<value=float {6.0}>()
            y = Clip(x, lo, hi)
        }
    """)
    pass_ = DecomposeClipPass()
    assert not pass_(model).modified
    assert "constants already" in pass_.declined[0]


def test_isnan_becomes_not_equal_self() -> None:
    from nnport.passes.decompose_isnan import DecomposeIsNaNPass

    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[4] x) => (bool[4] y) { y = IsNaN(x) }
    """)
    feeds = [{"x": np.array([1.0, np.nan, -np.inf, 0.0], np.float32)}]
    new, drift = apply_verified(DecomposeIsNaNPass(), model, feeds)
    assert drift.ok
    assert [n.op_type for n in new.graph] == ["Equal", "Not"]
    _, out = run_model(new, feeds)
    assert out[0]["y"].tolist() == [False, True, False, False]


@pytest.mark.parametrize(
    ("body", "written"),
    [
        ("y = Transpose(x)", ("perm", [2, 1, 0])),
        ("s = Constant<value = int64[2] {1, 1}>() a, b = Split(x, s)", ("axis", 0)),
    ],
)
def test_write_defaults_matches_onnxruntime(body: str, written: tuple[str, object]) -> None:
    """Transpose without perm reverses the axes and Split without axis splits axis 0; the pass
    writes those defaults out."""
    from nnport.passes.write_defaults import WriteDefaultsPass

    outputs = "float[8,3,2] y" if "Transpose" in body else "float[1,3,8] a, float[1,3,8] b"
    model = parse(f"""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[2,3,8] x) => ({outputs}) {{ {body} }}
    """)
    new, drift = apply_verified(WriteDefaultsPass(), model, FEEDS)
    assert drift.ok, drift.reason
    name, value = written
    (node,) = [n for n in new.graph if n.op_type in ("Transpose", "Split")]
    attr = node.attributes[name]
    assert (list(attr.as_ints()) if isinstance(value, list) else attr.as_int()) == value
    assert all(name not in n.attributes for n in model.graph)  # the input model is untouched


def _nearest(attributes: str) -> ir.Model:
    return parse(f"""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[1,3,4,4] x) => (float[1,3,8,8] y) {{
            s = Constant<value = float[4] {{1, 1, 2, 2}}>()
            y = Resize<mode = "nearest"{attributes}>(x, , s)
        }}
    """)


def test_drop_defaults_leaves_out_a_nearest_mode_written_at_its_default() -> None:
    """Resize's nearest_mode written as its default "round_prefer_floor" is left out (pnnx
    refuses it written out); the other attributes and the outputs stay the same."""
    from nnport.passes.drop_defaults import DropDefaultsPass

    model = _nearest(', coordinate_transformation_mode = "half_pixel", '
                     'nearest_mode = "round_prefer_floor"')  # fmt: skip
    feeds = [{"x": np.random.default_rng(0).standard_normal((1, 3, 4, 4)).astype(np.float32)}]
    new, drift = apply_verified(DropDefaultsPass(), model, feeds)
    assert drift.ok and drift.max_abs == 0.0, drift.reason
    (node,) = [n for n in new.graph if n.op_type == "Resize"]
    assert "nearest_mode" not in node.attributes
    assert node.attributes.get_string("coordinate_transformation_mode") == "half_pixel"
    assert node.attributes.get_string("mode") == "nearest"


@pytest.mark.parametrize(
    ("attributes", "reason"),
    [(', nearest_mode = "round_prefer_ceil"', "not the default"), ("", "not written out")],
)
def test_drop_defaults_declines(attributes: str, reason: str) -> None:
    from nnport.passes.drop_defaults import DropDefaultsPass

    pass_ = DropDefaultsPass()
    assert not pass_(_nearest(attributes)).modified
    assert reason in pass_.declined[0]


@pytest.mark.parametrize(("length", "parts", "sizes"), [(8, 3, [3, 3, 2]), (7, 4, [2, 2, 2, 1])])
def test_write_split_sizes_gives_onnx_part_lengths(length: int, parts: int, sizes: list) -> None:
    """Split-18 by num_outputs with uneven parts becomes a Split given ONNX's part lengths."""
    from nnport.passes.base import const_array
    from nnport.passes.write_split_sizes import WriteSplitSizesPass

    names = [f"o{i}" for i in range(parts)]
    outputs = ", ".join(f"float[2,{n}] {o}" for o, n in zip(names, sizes, strict=True))
    model = parse(f"""
        <ir_version: 8, opset_import: ["" : 18]>
        g (float[2,{length}] x) => ({outputs}) {{
            {", ".join(names)} = Split<axis = 1, num_outputs = {parts}>(x)
        }}
    """)
    feeds = [{"x": np.arange(2 * length, dtype=np.float32).reshape(2, length)}]
    new, drift = apply_verified(WriteSplitSizesPass(), model, feeds)
    assert drift.ok and drift.max_abs == 0.0, drift.reason
    (node,) = list(new.graph)
    assert "num_outputs" not in node.attributes
    assert const_array(node.inputs[1]).tolist() == sizes  # type: ignore[union-attr]


def test_write_split_sizes_declines_even_parts() -> None:
    from nnport.passes.write_split_sizes import WriteSplitSizesPass

    model = parse("""
        <ir_version: 8, opset_import: ["" : 18]>
        g (float[2,9] x) => (float[2,3] a, float[2,3] b, float[2,3] c) {
            a, b, c = Split<axis = 1, num_outputs = 3>(x)
        }
    """)
    pass_ = WriteSplitSizesPass()
    assert not pass_(model).modified and "evenly" in pass_.declined[0]
