"""fp16/bf16 emulation, node by node, against a numpy reference that rounds every tensor between
operators (numpy's float16; bf16 round-to-nearest-even) and accumulates in float32."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import onnx
import onnx_ir as ir
import pytest

from graphs import parse
from nnport.errors import UsageError
from nnport.precision.emulate import EmulatedRunner, emulate, run_emulated
from nnport.precision.formats import (
    get_format,
    out_of_range,
    parse_precisions,
    round_bf16,
    round_to,
)

HEAD = '<ir_version: 8, opset_import: ["" : 17]>'
RNG = np.random.default_rng(0)


def r16(x: np.ndarray) -> np.ndarray:
    return round_to(np.asarray(x, np.float32), "fp16")


def assert_within_one_ulp(got: np.ndarray, expected: np.ndarray, fmt: str = "fp16") -> None:
    """Equal to the reference, up to one unit in the last place of the format (the reference
    and ONNX Runtime may sum in different orders, and a float32 difference of one ulp can
    move a value across a rounding boundary of the format)."""
    assert got.shape == expected.shape
    np.testing.assert_array_equal(round_to(got, fmt), got)  # representable in the format
    ulp = 2 * get_format(fmt).unit_roundoff
    np.testing.assert_allclose(got, expected, rtol=ulp, atol=get_format(fmt).smallest_subnormal)


def test_formats_limits_and_parsing() -> None:
    fp16 = get_format("float16")
    assert fp16.name == "fp16" and fp16.max == 65504.0 == float(np.finfo(np.float16).max)
    assert fp16.smallest_normal == float(np.finfo(np.float16).tiny)
    assert fp16.smallest_subnormal == float(np.finfo(np.float16).smallest_subnormal)
    bf16 = get_format("bf16")
    assert bf16.max == float(ml_dtypes.finfo(ml_dtypes.bfloat16).max)
    assert bf16.smallest_normal == float(ml_dtypes.finfo(ml_dtypes.bfloat16).tiny)
    assert parse_precisions("fp32, f16,int8,fp16") == ("fp32", "fp16", "int8")
    with pytest.raises(UsageError, match="unknown precision 'fp8'"):
        parse_precisions("fp32,fp8")
    assert out_of_range(np.array([70000.0, -65505, 65504, 1e-8, 0, np.inf]), "fp16") == (2, 1)


def test_bf16_rounding_is_nearest_even_like_ml_dtypes() -> None:
    ties = np.array([1 + 2**-8, 1 + 3 * 2**-8, -(1 + 2**-8), 1 + 2**-8 + 2**-20], np.float32)
    np.testing.assert_array_equal(round_bf16(ties), [1.0, 1 + 2**-6, -1.0, 1 + 2**-7])
    x = np.concatenate(
        [
            RNG.standard_normal(10000).astype(np.float32) * 1e3,
            np.array([3.39e38, 3.4e38, -3.4e38, np.inf, 1e-40, 0.0], np.float32),
        ]
    )
    expected = x.astype(ml_dtypes.bfloat16).astype(np.float32)
    np.testing.assert_array_equal(round_bf16(x), expected)
    assert np.isinf(round_bf16(np.array([3.4e38], np.float32)))[0]
    assert np.isnan(round_bf16(np.array([np.nan], np.float32)))[0]


def test_bf16_cast_in_onnxruntime_rounds_ties_to_even() -> None:
    model = parse(f"{HEAD} g (float[4] x) => (float[4] y) {{ y = Relu(x) }}")
    x = np.array([1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-8 + 2**-20, 3.4e38], np.float32)
    got = run_emulated(model, "bf16", {"x": x})["y"]
    np.testing.assert_array_equal(got, [1.0, 1 + 2**-6, 1 + 2**-7, np.inf])


def test_matmul_weights_and_output_rounded_accumulation_in_fp32() -> None:
    w = RNG.standard_normal((16, 8)).astype(np.float32)
    model = parse(
        f"{HEAD} g (float[4,16] x, float[16,8] w) => (float[4,8] y) {{ y = MatMul(x, w) }}"
    )
    model.graph.initializers["w"] = model.graph.inputs[1]
    model.graph.inputs[1].const_value = ir.tensor(w, name="w")
    model.graph.inputs.pop()
    x = RNG.standard_normal((4, 16)).astype(np.float32)
    got = run_emulated(model, "fp16", {"x": x})["y"]
    expected = r16(r16(x) @ r16(w))
    assert_within_one_ulp(got, expected)
    # fp32 accumulation: summing in fp16 would differ from this by far more than an ulp
    assert not np.array_equal(r16(x), x)


def test_conv_matches_numpy_reference() -> None:
    x = RNG.standard_normal((1, 2, 5, 5)).astype(np.float32)
    w = RNG.standard_normal((3, 2, 3, 3)).astype(np.float32)
    b = RNG.standard_normal(3).astype(np.float32)
    model = parse(
        f"{HEAD} g (float[1,2,5,5] x, float[3,2,3,3] w, float[3] b) => (float[1,3,3,3] y)"
        " { y = Conv(x, w, b) }"
    )
    got = run_emulated(model, "fp16", {"x": x, "w": w, "b": b})["y"]
    xr, wr, br = r16(x), r16(w), r16(b)
    ref = np.zeros((1, 3, 3, 3), np.float32)
    for i in range(3):
        for j in range(3):
            patch = xr[0, :, i : i + 3, j : j + 3]
            ref[0, :, i, j] = np.einsum("chw,ochw->o", patch, wr) + br
    assert_within_one_ulp(got, r16(ref))


def test_add_is_exact_and_overflow_goes_to_inf() -> None:
    model = parse(f"{HEAD} g (float[3] a, float[3] b) => (float[3] y) {{ y = Add(a, b) }}")
    a = np.array([1.0001, 40000.0, -40000.0], np.float32)
    b = np.array([2.0003, 30000.0, -30000.0], np.float32)
    got = run_emulated(model, "fp16", {"a": a, "b": b})["y"]
    np.testing.assert_array_equal(got, r16(r16(a) + r16(b)))
    assert got[1] == np.inf and got[2] == -np.inf
    # in bf16 the same sum is in range
    assert np.isfinite(run_emulated(model, "bf16", {"a": a, "b": b})["y"]).all()


def test_underflow_goes_to_zero() -> None:
    model = parse(f"{HEAD} g (float[3] a, float[3] b) => (float[3] y) {{ y = Mul(a, b) }}")
    a = np.array([1e-4, 1e-4, 2.0**-12], np.float32)
    b = np.array([1e-4, -1e-4, 2.0**-12], np.float32)
    got = run_emulated(model, "fp16", {"a": a, "b": b})["y"]
    np.testing.assert_array_equal(got, [0.0, -0.0, 2.0**-24])  # 1e-8 flushes, 2^-24 is subnormal
    np.testing.assert_array_equal(got, r16(r16(a) * r16(b)))


def test_softmax_rounds_only_its_inputs_and_output() -> None:
    model = parse(f"{HEAD} g (float[2,10] x) => (float[2,10] y) {{ y = Softmax<axis=-1>(x) }}")
    x = RNG.standard_normal((2, 10)).astype(np.float32) * 4
    got = run_emulated(model, "fp16", {"x": x})["y"]
    xr = r16(x)
    e = np.exp(xr - xr.max(axis=-1, keepdims=True))
    assert_within_one_ulp(got, r16(e / e.sum(axis=-1, keepdims=True)))


LAYERNORM = """<ir_version: 8, opset_import: ["" : 18]>
g (float[2,8] x) => (float[2,8] y) <float[8] gamma = {1,1,1,1,2,2,2,2}, float[8] beta =
    {0,0,0,0,0.1,0.1,0.1,0.1}, float eps = {1e-5}, int64[1] axes = {-1}> {
  mean = ReduceMean(x, axes)
  d = Sub(x, mean)
  sq = Mul(d, d)
  var = ReduceMean(sq, axes)
  ve = Add(var, eps)
  sd = Sqrt(ve)
  n = Div(d, sd)
  g = Mul(n, gamma)
  y = Add(g, beta)
}"""


def _layernorm_reference(x: np.ndarray) -> np.ndarray:
    gamma = r16(np.array([1, 1, 1, 1, 2, 2, 2, 2], np.float32))
    beta = r16(np.array([0, 0, 0, 0, 0.1, 0.1, 0.1, 0.1], np.float32))
    xr = r16(x)
    mean = r16(xr.mean(axis=-1, keepdims=True, dtype=np.float32))
    d = r16(xr - mean)
    sq = r16(d * d)
    var = r16(sq.mean(axis=-1, keepdims=True, dtype=np.float32))
    sd = r16(np.sqrt(r16(var + r16(np.float32(1e-5)))))
    return r16(r16(r16(d / sd) * gamma) + beta)


def test_decomposed_layernorm_node_by_node() -> None:
    model = parse(LAYERNORM)
    x = RNG.standard_normal((2, 8)).astype(np.float32) * 3
    assert_within_one_ulp(run_emulated(model, "fp16", {"x": x})["y"], _layernorm_reference(x))


def test_decomposed_layernorm_overflows_with_deviations_of_a_few_hundred() -> None:
    model = parse(LAYERNORM)
    x = np.array([[300, -300, 280, -280, 290, -290, 10, -10]] * 2, np.float32)
    got = run_emulated(model, "fp16", {"x": x})["y"]
    # squared deviations (90000) overflow to inf: var is inf and the output collapses to zero
    np.testing.assert_array_equal(got, _layernorm_reference(x))
    np.testing.assert_array_equal(got[:, :4], 0.0)
    # kept in fp32, the Mul that squares and the ReduceMean that reads it are back in range
    model.graph.node(2).name = "square"
    model.graph.node(3).name = "variance"
    kept = run_emulated(model, "fp16", {"x": x}, keep=["square", "variance"])["y"]
    assert np.abs(kept[:, :4]).min() > 0.5


def test_keep_outputs_fp32_and_consumers_read_rounded() -> None:
    model = parse(
        f"{HEAD} g (float[2] x) => (float[2] y, float[2] z) {{ y = Mul(x, x)\n z = Relu(y) }}"
    )
    model.graph.node(0).name = "square"
    x = np.array([300.0, 1.0001], np.float32)
    out = run_emulated(model, "fp16", {"x": x}, keep=["square"])
    # the kept node reads the graph input in fp32 and its output is not rounded
    np.testing.assert_array_equal(out["y"], x * x)
    assert out["z"][0] == np.inf  # the fp16 Relu reads 90000 in fp16


def test_input_untouched_names_kept_and_optimizations_disabled() -> None:
    model = parse(LAYERNORM)
    before = ir.serde.serialize_model(model).SerializeToString()
    emulated = emulate(model, "bf16")
    assert ir.serde.serialize_model(model).SerializeToString() == before
    assert emulated is not model
    values = {v.name for n in emulated.graph for v in n.outputs}
    assert {"mean", "d", "sq", "var", "sd", "n", "g"} <= values
    assert [v.name for v in emulated.graph.outputs] == ["y"]
    casts = [n for n in emulated.graph if n.op_type == "Cast"]
    assert {n.attributes.get_int("to") for n in casts} == {
        onnx.TensorProto.BFLOAT16,
        onnx.TensorProto.FLOAT,
    }
    # weights are rounded once, as constants, and the fp32 originals are gone
    assert "gamma" not in emulated.graph.initializers
    with EmulatedRunner(model, "fp16") as runner:
        runner.infer({"x": np.ones((2, 8), np.float32)})
        config = runner.config()
    assert config["optimization"] == "disable"
    assert config["precision"] == "fp16" and config["precision_mode"] == "emulated"


def test_if_subgraph_is_rounded() -> None:
    model = parse(
        f"""{HEAD}
        g (bool c, float[2] x) => (float[2] y) {{
          y = If(c) <
            then_branch = t () => (float[2] a) {{ a = Mul(x, x) }},
            else_branch = e () => (float[2] b) {{ b = Neg(x) }}
          >
        }}"""
    )
    x = np.array([300.0, 2.0], np.float32)
    got = run_emulated(model, "fp16", {"c": np.array(True), "x": x})["y"]
    assert got[0] == np.inf and got[1] == 4.0


def test_unknown_keep_and_int8_refused() -> None:
    model = parse(LAYERNORM)
    with pytest.raises(UsageError, match="does not have: nope"):
        emulate(model, "fp16", keep=["nope"])
    with pytest.raises(UsageError, match="not int8"):
        emulate(model, "int8")


def test_names_never_collide_with_the_models_own() -> None:
    model = parse(
        f"{HEAD} g (float[2] x) => (float[2] y) {{ a = Relu(x)\n a__fp32 = Neg(a)\n"
        " a__fp16_bits = Abs(a__fp32)\n y = Add(a, a__fp16_bits) }"
    )
    emulated = emulate(model, "fp16")
    names = [v.name for n in emulated.graph for v in n.outputs]
    assert len(names) == len(set(names))
    x = np.array([1.0001, -2.0], np.float32)
    got = run_emulated(model, "fp16", {"x": x})["y"]
    a = r16(np.maximum(r16(x), 0))
    np.testing.assert_array_equal(got, r16(a + r16(np.abs(r16(-a)))))


def test_bf16_below_opset_13_converts_the_copy() -> None:
    text = '<ir_version: 7, opset_import: ["" : 11]> g (float[2,3] x) => (float[3,2] y) {'
    model = parse(text + " t = Transpose<perm=[1,0]>(x)\n y = Relu(t) }")
    model.graph.node(0).name = "flip"
    x = np.array([[1 + 2**-8, 3.4e38, 2], [1 + 3 * 2**-8, -1, 0.5]], np.float32)
    got = run_emulated(model, "bf16", {"x": x}, keep=["flip"])["y"]
    np.testing.assert_array_equal(got, round_bf16(np.maximum(x.T, 0)))
    assert model.opset_imports[""] == 11  # the input model is untouched
