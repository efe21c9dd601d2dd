"""Each rule of ``check`` on small inline models: it fires when it should and stays quiet otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx.parser
import onnx_ir as ir
import pytest

from nnport.check import CheckReport, check
from nnport.errors import InputSpecError
from nnport.targets import load_target

MINI = """
name = "mini"
description = "rules under test"
date = "2026-11-28"
[source]
probe = "hand-written for tests"
[opsets]
"ai.onnx" = "11-13"
[graph]
static_shapes = true
int64 = "constant"
max_rank = 4
[[ops]]
op = "Relu"
[[ops]]
op = "Add"
broadcast = "per-channel"
[[ops]]
op = "Max"
broadcast = "none"
[[ops]]
op = "Transpose"
[ops.attributes]
perm = [[0, 2, 3, 1]]
[[ops]]
op = "Resize"
integer_scales = true
constant_inputs = [2]
[ops.attributes]
mode = ["nearest"]
[[ops]]
op = "Cast"
versions = ["13"]
[[ops]]
op = "If"
[[ops]]
op = "Identity"
[[ops]]
op = "ArgMax"
"""


@pytest.fixture
def mini(tmp_path: Path) -> str:
    path = tmp_path / "mini.toml"
    path.write_text(MINI)
    return str(path)


def _model(text: str, *arrays: tuple[str, np.ndarray]) -> ir.Model:
    proto = onnx.parser.parse_model(text)
    for name, array in arrays:
        proto.graph.initializer.append(onnx.numpy_helper.from_array(array, name))
    onnx.checker.check_model(proto)
    return ir.serde.deserialize_model(proto)


def _rules(report: CheckReport) -> list[tuple[str, str]]:
    return [(v.where, v.rule) for v in report.violations]


HEAD = '<ir_version: 8, opset_import: ["" : 13]>'


def test_clean_model_is_deployable(mini: str) -> None:
    model = _model(f"{HEAD} g (float[1,3,4,4] x) => (float[1,3,4,4] y) {{ y = Relu(x) }}")
    report = check(model, mini)
    assert report.deployable and report.violations == ()


def test_broadcast_rules(mini: str) -> None:
    text = f"""{HEAD} g (float[1,3,4,4] x, float[1,3,1,4] z) => (float[1,3,4,4] y, float[1,3,4,4] w)
    {{ y = Add(x, z)  a = Add(x, c)  w = Max(x, a) }}"""
    model = _model(text, ("c", np.ones((1, 3, 1, 1), np.float32)))
    assert _rules(check(model, mini)) == [("Add#0", "broadcast-unsupported")]
    text2 = f"""{HEAD} g (float[1,3,4,4] x) => (float[1,3,4,4] w) {{ w = Max(x, c) }}"""
    model2 = _model(text2, ("c", np.ones((1, 3, 1, 1), np.float32)))
    assert _rules(check(model2, mini)) == [("Max#0", "broadcast-unsupported")]


def test_attribute_rules(mini: str) -> None:
    text = f"""{HEAD} g (float[1,3,4,4] x) => (float[1,4,4,3] y, float[4,4,3,1] z)
    {{ y = Transpose<perm=[0,2,3,1]>(x)  z = Transpose(x) }}"""
    report = check(_model(text), mini)
    # The second Transpose has no perm: its default (reversed axes) is what gets judged.
    assert _rules(report) == [("Transpose#1", "attribute-unsupported")]
    assert "perm=[3, 2, 1, 0]" in report.violations[0].message


def test_resize_scales_and_mode(mini: str) -> None:
    text = f"""{HEAD} g (float[1,3,4,4] x) => (float[1,3,8,8] y, float[1,3,6,6] z, float[1,3,8,8] w)
    {{ y = Resize(x, roi, s2)  z = Resize(x, roi, s15)  w = Resize<mode="linear">(x, roi, s2) }}"""
    model = _model(
        text,
        ("roi", np.zeros((0,), np.float32)),
        ("s2", np.array([1, 1, 2, 2], np.float32)),
        ("s15", np.array([1, 1, 1.5, 1.5], np.float32)),
    )
    report = check(model, mini)
    assert _rules(report) == [
        ("Resize#1", "attribute-unsupported"),
        ("Resize#2", "attribute-unsupported"),
    ]
    assert "whole-number" in report.violations[0].message
    assert "mode='linear'" in report.violations[1].message


def test_input_not_constant_and_int64_policy(mini: str) -> None:
    text = f"""{HEAD} g (float[1,3,4,4] x, float[4] s) => (float[1,3,8,8] y, int64[1,1,4,4] i)
    {{ y = Resize(x, roi, s)  i = ArgMax<axis=1>(x) }}"""
    model = _model(text, ("roi", np.zeros((0,), np.float32)))
    report = check(model, mini)
    by_rule = {v.rule: v for v in report.violations}
    assert by_rule["input-not-constant"].fix is None  # computed from input data: no fix
    assert by_rule["input-not-constant"].tensor == "s"
    assert by_rule["dtype-unsupported"].fix == "retype-int64"
    assert by_rule["dtype-unsupported"].node == "ArgMax#1"


def test_rank_and_dynamic_shape(mini: str) -> None:
    text = f"""{HEAD} g (float[1,3,4,4,2] x, float[N,3] z) => (float[1,3,4,4,2] y, float[N,3] w)
    {{ y = Relu(x)  w = Relu(z) }}"""
    report = check(_model(text), mini)
    assert ("x", "rank-exceeded") in _rules(report)
    assert ("z", "dynamic-shape") in _rules(report)
    assert ("Relu#0", "rank-exceeded") in _rules(report)
    fixed = check(_model(text), mini, input_shapes={"z": (2, 3)})
    assert ("z", "dynamic-shape") not in _rules(fixed)


def test_op_versions_and_opset_range(mini: str) -> None:
    text = '<ir_version: 8, opset_import: ["" : 11]> g (float[2] x) => (int32[2] y) { y = Cast<to=6>(x) }'
    report = check(_model(text), mini)
    assert _rules(report) == [("Cast#0", "op-unsupported")]
    assert report.violations[0].fix == "convert-opset"
    old = '<ir_version: 8, opset_import: ["" : 9]> g (float[2] x) => (float[2] y) { y = Relu(x) }'
    assert _rules(check(_model(old), mini)) == [("model", "opset-out-of-range")]


def test_unknown_and_custom_domain_ops(mini: str) -> None:
    text = """<ir_version: 8, opset_import: ["" : 13, "my.ops" : 1]>
    g (float[2] x) => (float[2] y) { t = Sigmoid(x)  y = my.ops.Thing(t) }"""
    proto = onnx.parser.parse_model(text)
    model = ir.serde.deserialize_model(proto)
    report = check(model, mini)
    assert [(v.op, v.domain, v.rule) for v in report.violations] == [
        ("Sigmoid", "ai.onnx", "op-unsupported"),
        ("Thing", "my.ops", "op-unsupported"),
    ]


def test_subgraph_nodes_follow_their_owner(mini: str) -> None:
    text = f"""{HEAD} g (bool c, float[2] x) => (float[2] y) {{
        y = If(c) <then_branch = t () => (float[2] a) {{ a = Sigmoid(x) }},
                   else_branch = e () => (float[2] b) {{ b = Identity(x) }}>
        z = Relu(x)
    }}"""
    report = check(_model(text), mini)
    unsupported = [v for v in report.violations if v.rule == "op-unsupported"]
    assert [v.op for v in unsupported] == ["Sigmoid"]
    assert unsupported[0].graph.endswith("then_branch")


def test_function_ops_expand_on_onnxruntime() -> None:
    text = '<ir_version: 8, opset_import: ["" : 14]> g (float[2] x) => (float[2] y) { y = HardSwish(x) }'
    model = _model(text)
    assert check(model, "onnxruntime").deployable
    report = check(model, "nnie")
    assert report.violations[-1].fix == "decompose-hardswish"


def test_bad_input_shape_name(mini: str) -> None:
    model = _model(f"{HEAD} g (float[1,3,4,4] x) => (float[1,3,4,4] y) {{ y = Relu(x) }}")
    with pytest.raises(InputSpecError, match="no input named 'nope'"):
        check(model, mini, input_shapes={"nope": (1,)})


def test_profile_objects_are_accepted(mini: str) -> None:
    model = _model(f"{HEAD} g (float[1,3,4,4] x) => (float[1,3,4,4] y) {{ y = Relu(x) }}")
    assert check(model, load_target(mini)).target == "mini"


def test_function_bodies_are_followed(tmp_path: Path) -> None:
    base = """
name = "expander"
description = "expands ONNX functions"
date = "2026-11-28"
expands_functions = true
[source]
probe = "hand-written for tests"
[opsets]
"ai.onnx" = "13-17"
[[ops]]
op = "Mul"
"""
    text = '<ir_version: 8, opset_import: ["" : 14]> g (float[2] x) => (float[2] y) { y = HardSwish(x) }'
    model = _model(text)
    only_mul = tmp_path / "only_mul.toml"
    only_mul.write_text(base)
    report = check(model, str(only_mul))
    assert [(v.rule, v.fix) for v in report.violations] == [
        ("op-unsupported", "decompose-hardswish")
    ]
    assert "HardSigmoid" in report.violations[0].message
    with_body = tmp_path / "with_body.toml"
    with_body.write_text(base + '[[ops]]\nop = "HardSigmoid"\n')
    assert check(model, str(with_body)).deployable


def test_plain_cnn_deploys_on_every_documented_target() -> None:
    text = """<ir_version: 8, opset_import: ["" : 11]>
    g (float[1,1,28,28] x) => (float[1,10] y) {
        c = Conv<pads=[1,1,1,1]>(x, w, b)
        r = Relu(c)
        p = MaxPool<kernel_shape=[2,2], strides=[2,2]>(r)
        s = Mul(p, scale)
        t = Add(s, shift)
        g = GlobalAveragePool(t)
        f = Flatten(g)
        z = Gemm<transB=1>(f, fw, fb)
        y = Softmax(z)
    }"""
    model = _model(
        text,
        ("w", np.ones((8, 1, 3, 3), np.float32)),
        ("b", np.zeros((8,), np.float32)),
        ("scale", np.ones((1, 8, 1, 1), np.float32)),
        ("shift", np.zeros((1, 8, 1, 1), np.float32)),
        ("fw", np.ones((10, 8), np.float32)),
        ("fb", np.zeros((10,), np.float32)),
    )
    for target in ("nnie", "ascend310", "ascend310p", "tensorrt", "onnxruntime"):
        report = check(model, target)
        assert report.deployable, (target, report.violations)


def test_shape_arithmetic_is_folded_not_retyped() -> None:
    text = """<ir_version: 8, opset_import: ["" : 13]>
    g (float[N,3] x) => (float[N,3] y) {
        s = Shape(x)
        f = Cast<to=1>(s)
        i = Cast<to=7>(f)
        y = Reshape(x, i)
    }"""
    report = check(_model(text), "ascend310")
    cast = next(v for v in report.violations if v.rule == "dtype-unsupported")
    assert cast.node == "Cast#2" and cast.fix == "freeze-shapes"
    assert "folding removes it" in cast.message
