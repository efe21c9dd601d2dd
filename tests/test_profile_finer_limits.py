"""Finer profile limits: refused integer attribute values, graph I/O dtypes, probe-derived constants."""

from __future__ import annotations

from pathlib import Path

import onnx
import onnx.parser
import onnx_ir as ir
import pytest

from nnport.check import check
from nnport.errors import UnsupportedTargetError
from nnport.probe.derive import derive_rules
from nnport.probe.engine import CaseOutcome
from nnport.probe.graph import graph_rules
from nnport.probe.nodes import NodeUse, graph_io, node_uses
from nnport.targets import dump_profile, read_profile

PROFILE = """
name = "finer"
description = "finer limits under test"
date = "2026-11-28"
[source]
probe = "hand-written for tests"
[opsets]
"ai.onnx" = "11-18"
[graph]
input_dtypes = ["float32", "int64"]
output_dtypes = ["float32"]
[[ops]]
op = "ReduceMean"
[ops.forbidden_attributes]
keepdims = [0]
[[ops]]
op = "Transpose"
[ops.forbidden_attributes]
perm = [[1, 0]]
"""


@pytest.fixture
def finer(tmp_path: Path) -> str:
    path = tmp_path / "finer.toml"
    path.write_text(PROFILE)
    return str(path)


def _model(text: str) -> ir.Model:
    return ir.serde.deserialize_model(onnx.parser.parse_model(text))


def _reduce(keepdims: str) -> ir.Model:
    return _model(f"""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[2, 3] x) => (float[2] y) {{ y = ReduceMean{keepdims}(x) }}
    """)


def test_forbidden_integer_attribute_value_is_refused(finer: str) -> None:
    report = check(_reduce("<axes = [1], keepdims = 0>"), finer)
    assert not report.deployable
    (violation,) = report.violations
    assert violation.rule == "attribute-unsupported"
    assert violation.op == "ReduceMean"
    assert "keepdims=0" in violation.message


def test_other_values_and_defaults_pass(finer: str) -> None:
    assert check(_reduce("<axes = [1], keepdims = 1>"), finer).deployable
    assert check(_reduce("<axes = [1]>"), finer).deployable  # default keepdims = 1


def test_forbidden_integer_list_is_compared_as_a_whole(finer: str) -> None:
    def transpose(perm: str) -> ir.Model:
        return _model(f"""
            <ir_version: 8, opset_import: ["" : 13]>
            g (float[2, 3] x) => (float[3, 2] y) {{ y = Transpose<perm = {perm}>(x) }}
        """)

    (violation,) = check(transpose("[1, 0]"), finer).violations
    assert violation.rule == "attribute-unsupported"
    three = _model("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[2, 3, 4] x) => (float[2, 4, 3] y) { y = Transpose<perm = [0, 2, 1]>(x) }
    """)
    assert check(three, finer).deployable


def test_graph_io_dtypes_are_enforced(finer: str) -> None:
    model = _model("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (bfloat16[2, 3] x) => (bfloat16[2, 3] y) { y = ReduceMean<keepdims = 1>(x) }
    """)
    rules = {v.rule for v in check(model, finer).violations}
    assert rules == {"io-dtype"}


def test_profile_validation_and_round_trip(tmp_path: Path, finer: str) -> None:
    profile = read_profile(finer)
    (rule,) = profile.rules_for("ReduceMean", "")
    assert rule.forbidden_attributes == {"keepdims": (0,)}
    copy = dump_profile(profile, tmp_path / "copy.toml")
    assert read_profile(copy).rules_for("Transpose", "")[0].forbidden_attributes == {
        "perm": ([1, 0],)
    }
    bad = tmp_path / "bad.toml"
    bad.write_text(PROFILE.replace("keepdims = [0]", "keepdims = 0"))
    with pytest.raises(UnsupportedTargetError, match="forbidden_attributes"):
        read_profile(bad)


# --------------------------------------------------------------------------- derivation


def _use(
    keepdims: int, dtype: str = "float32", hidden: int = 4, constant: tuple[int, ...] = (1,)
) -> tuple[NodeUse, ...]:
    ints = (("hidden", str(hidden)), ("keepdims", str(keepdims)), ("kernel", "[3,3]"))
    return (NodeUse("ReduceSum", "", 13, (dtype, "int64"), (dtype,), (), constant, ints),)


def _outcome(
    status: str, nodes: tuple[NodeUse, ...], io: tuple[str, ...] = ("float32",)
) -> CaseOutcome:
    return CaseOutcome(
        "case", "ReduceSum", "", 13, 13, status, nodes=nodes, graph_inputs=io,  # type: ignore[arg-type]
        graph_outputs=io,
    )  # fmt: skip


def _rule(outcomes: list[CaseOutcome]):  # type: ignore[no-untyped-def]
    return {r.versions_text(): r for r in derive_rules(outcomes)}["13+"]


def test_a_switch_that_never_passed_is_forbidden_not_the_sizes_beside_it() -> None:
    rule = _rule(
        [
            _outcome("pass", _use(keepdims=1, hidden=4)),
            _outcome("fail", _use(keepdims=0, hidden=6)),  # keepdims=0 and hidden=6 both unseen
        ]
    )
    assert rule.forbidden_attributes == {"keepdims": (0,)}


def test_sizes_are_blamed_only_without_a_switch_and_lists_never() -> None:
    rule = _rule([_outcome("pass", _use(1, hidden=4)), _outcome("fail", _use(1, hidden=6))])
    assert rule.forbidden_attributes == {"hidden": (6,)}


def test_a_failure_explained_by_a_dtype_blames_no_attribute() -> None:
    rule = _rule([_outcome("pass", _use(1)), _outcome("fail", _use(0, dtype="int8"))])
    assert rule.forbidden_attributes == {}
    assert "int8" not in rule.input_dtypes["0"]


def test_an_input_that_fails_at_run_time_and_passes_constant_must_be_constant() -> None:
    passing = _outcome("pass", _use(1, constant=(1,)))
    rule = _rule([passing, _outcome("fail", _use(1, constant=()))])
    assert rule.constant_inputs == (1,)
    # once a run-time axes input passed, a failure with one blames nothing
    rule = _rule(
        [passing, _outcome("pass", _use(1, constant=())), _outcome("fail", _use(1, constant=()))]
    )
    assert rule.constant_inputs == ()


def test_graph_io_types_that_never_passed_are_left_out() -> None:
    outcomes = [
        _outcome("pass", _use(1)),
        _outcome("fail", _use(1), io=("bfloat16",)),
        _outcome("fail", _use(1), io=("float32",)),
    ]
    graph = graph_rules(outcomes, static_shapes=False)
    assert "bfloat16" not in graph.input_dtypes and "float32" in graph.input_dtypes
    assert "int8" in graph.output_dtypes  # never tried: not refused
    # a failure explained by its graph I/O type blames nothing on the op
    rule = _rule([_outcome("pass", _use(1)), _outcome("fail", _use(0), io=("bfloat16",))])
    assert rule.forbidden_attributes == {}
    assert graph_rules([_outcome("pass", _use(1))], static_shapes=False).input_dtypes == ()


def test_node_uses_record_integer_attributes_with_defaults_and_constant_nodes() -> None:
    model = onnx.parser.parse_model("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[2, 3] x) => (float[2, 1] y) {
            axes = Constant<value = int64[1] {1}>()
            y = ReduceSum(x, axes)
        }
    """)
    uses = {u.op: u for u in node_uses(model)}
    reduce = uses["ReduceSum"]
    assert dict(reduce.int_attributes) == {"keepdims": "1", "noop_with_empty_axes": "0"}
    assert reduce.constant == (1,)
    assert graph_io(model) == (("float32",), ("float32",))


# --------------------------------------------------------------------------- input values, folding

SLICER = """
name = "slicer"
description = "constant input values and converter folding under test"
date = "2026-11-28"
[source]
probe = "hand-written for tests"
[opsets]
"ai.onnx" = "11-18"
[graph]
static_shapes = true
folds_constants = FOLDS
[[ops]]
op = "Slice"
constant_inputs = [1, 2, 3, 4]
[ops.input_values]
4 = [1]
[[ops]]
op = "Reshape"
constant_inputs = [1]
"""


def _slicer(tmp_path: Path, folds: bool) -> str:
    path = tmp_path / f"slicer-{folds}.toml"
    path.write_text(SLICER.replace("FOLDS", "true" if folds else "false"))
    return str(path)


def _slice(step: int) -> ir.Model:
    return _model(f"""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[1, 3, 8, 8] x) => (float[1, 3, 4, 8] y)
          <int64[1] s = {{0}}, int64[1] e = {{8}}, int64[1] a = {{2}}> {{
            t = Constant<value = int64[1] {{{step}}}>()
            y = Slice(x, s, e, a, t)
        }}
    """)


def test_a_constant_input_value_outside_the_list_is_refused(tmp_path: Path) -> None:
    target = _slicer(tmp_path, folds=False)
    (violation,) = check(_slice(2), target).violations
    assert violation.rule == "input-value-unsupported"
    assert violation.op == "Slice" and "holds 2" in violation.message
    assert check(_slice(1), target).deployable


def test_input_values_validate(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(SLICER.replace("FOLDS", "false").replace("4 = [1]", '4 = ["one"]'))
    with pytest.raises(UnsupportedTargetError, match="input_values"):
        read_profile(bad)


def test_a_converter_that_folds_constants_accepts_shape_arithmetic(tmp_path: Path) -> None:
    model = _model("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[1, 3, 8, 8] x) => (float[1, 192] y) <int64[1] z = {0}, int64[1] m = {-1}> {
            s = Shape(x)
            b = Gather<axis = 0>(s, z)
            shape = Concat<axis = 0>(b, m)
            y = Reshape(x, shape)
        }
    """)
    refused = {v.rule for v in check(model, _slicer(tmp_path, folds=False)).violations}
    assert "input-not-constant" in refused and "op-unsupported" in refused
    assert check(model, _slicer(tmp_path, folds=True)).deployable


def test_a_dtype_pair_that_never_passed_is_refused_and_derived(tmp_path: Path) -> None:
    def cast(to: int, out: str) -> ir.Model:
        return _model(f"""
            <ir_version: 8, opset_import: ["" : 13]>
            g (float[2] x) => ({out}[2] y) {{ y = Cast<to = {to}>(x) }}
        """)

    path = tmp_path / "pairs.toml"
    text = PROFILE.split("[graph]")[0] + '[[ops]]\nop = "Cast"\n'
    path.write_text(text + 'forbidden_dtype_pairs = [["float32", "float64"]]\n')
    (violation,) = check(cast(11, "double"), str(path)).violations
    assert violation.rule == "dtype-unsupported" and "float32 into float64" in violation.message
    assert check(cast(10, "float16"), str(path)).deployable
    # derivation: each dtype passed on its own, the combination only failed
    uses = {
        (i, o): (NodeUse("Cast", "", 13, (i,), (o,), (), (), (("saturate", "1"),)),)
        for i, o in [("float32", "float16"), ("int32", "float64"), ("float32", "float64")]
    }
    outcomes = [_outcome("pass", uses["float32", "float16"]), _outcome("pass", uses["int32", "float64"]),
                _outcome("fail", uses["float32", "float64"])]  # fmt: skip
    rule = {r.versions_text(): r for r in derive_rules(outcomes)}["13-18"]
    assert rule.forbidden_dtype_pairs == (("float32", "float64"),)
    assert rule.forbidden_attributes == {}


def test_a_newer_version_reached_only_by_sequence_cases_follows_the_passing_one() -> None:
    def if_use(version: int, out: str) -> tuple[NodeUse, ...]:
        return (NodeUse("If", "", version, ("bool",), (out,)),)

    outcomes = [_outcome("pass", if_use(11, "float32")), _outcome("fail", if_use(13, "sequence"))]
    rules = {r.versions_text(): r for r in derive_rules(outcomes)}
    assert "13-15" in rules and rules["13-15"].note.startswith("not probed with tensors")
    # a newer version with a failing tensor case is not assumed
    outcomes.append(_outcome("fail", if_use(16, "float32")))
    assert "16-18" not in {r.versions_text() for r in derive_rules(outcomes)}


def test_targets_show_prints_the_finer_limits(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("targets", "show", "ncnn")
    assert result.code == 0, result.err
    assert "folded by the converter" in result.out
    assert "in[4] values in [1]" in result.out  # Slice steps
    assert "learned from AveragePool" in result.out  # the batch anchors
    result = cli("targets", "show", "openvino")
    flat = " ".join(result.out.split())
    assert "not float16 -> float64" in flat  # Cast's refused pair
    assert "inputs not given [2]" in flat  # Dropout's training_mode
    assert "tensors only (no sequence, optional)" in flat and "if-empty-constant" in flat


def test_an_attribute_no_pass_ever_set_is_refused_with_any_value(tmp_path: Path) -> None:
    """OpenVINO converts NegativeLogLikelihoodLoss without ignore_index and fails with it set,
    whatever its value: the attribute (no default) is refused outright, not value by value."""

    def nll(*ints: tuple[str, str]) -> tuple[NodeUse, ...]:
        return (NodeUse("NegativeLogLikelihoodLoss", "", 13, ("float32", "int64"), ("float32",),
                        (("reduction", "mean"),), (), ints),)  # fmt: skip

    outcomes = [_outcome("pass", nll()), _outcome("fail", nll(("ignore_index", "1")))]
    (rule,) = [r for r in derive_rules(outcomes) if r.versions_text() == "13-21"]
    assert rule.forbidden_attributes == {"ignore_index": ("*",)}
    text = PROFILE + '[[ops]]\nop = "NegativeLogLikelihoodLoss"\n[ops.forbidden_attributes]\n'
    path = tmp_path / "nll.toml"
    path.write_text(text + 'ignore_index = ["*"]\n')
    graph = """
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[2, 3] x, int64[2] t) => (float y) {{ y = NegativeLogLikelihoodLoss{a}(x, t) }}
    """
    (v,) = check(_model(graph.format(a="<ignore_index=7>")), str(path)).violations
    assert v.rule == "attribute-unsupported" and "ignore_index set at all" in v.message
    assert check(_model(graph.format(a="")), str(path)).deployable


def test_a_list_attribute_no_pass_set_is_refused_with_the_failing_value_only() -> None:
    """Exporters write MaxPool's dilations = [1, 1] where a failing case set [2, 2]: refusing
    dilations "set at all" would refuse every exported ResNet on ncnn, so only [2, 2] is."""

    def pool(*ints: tuple[str, str]) -> tuple[NodeUse, ...]:
        return (NodeUse("MaxPool", "", 12, ("float32",), ("float32",), (), (),
                        (("kernel_shape", "[2,2]"), *ints)),)  # fmt: skip

    outcomes = [_outcome("pass", pool()), _outcome("fail", pool(("dilations", "[2,2]")))]
    rules = derive_rules(outcomes)
    assert [r.forbidden_attributes.get("dilations") for r in rules] == [([2, 2],)] * len(rules)
    ones = [_outcome("pass", pool()), _outcome("fail", pool(("dilations", "[1,1]")))]
    assert all("dilations" not in r.forbidden_attributes for r in derive_rules(ones))
