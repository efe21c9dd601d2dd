"""Derivation rules the ncnn probe over all 994 cases of pnnx's ops needs, on synthetic outcomes:
what each rule derives, and what it keeps from deriving (limits that would refuse zoo models)."""

from __future__ import annotations

from nnport.probe.batch import batch_free_ops
from nnport.probe.derive import derive_profile, derive_rules, evidence
from nnport.probe.engine import CaseOutcome, ProbeResult
from nnport.probe.nodes import NodeUse


def _case(
    name: str,
    status: str,
    use: NodeUse,
    lead: int = 1,
    single: bool = True,
    variant: str = "",
) -> CaseOutcome:
    return CaseOutcome(name, use.op, "", use.version, use.version, status,  # type: ignore[arg-type]
                       "run" if status == "fail" else "", nodes=(use,), single_node=single,
                       graph_inputs=("float32",), graph_outputs=("float32",), variant=variant,
                       leading_dim=lead)  # fmt: skip


def _rule(rules: list, op: str, versions: str):  # type: ignore[no-untyped-def]
    (rule,) = [r for r in rules if r.op == op and r.versions_text() == versions]
    return rule


def test_a_reduction_over_every_axis_or_none_is_no_batch_free_evidence() -> None:
    """ReduceSum's only passes with a first axis of 3 reduced nothing (empty axes, noop): it is
    not batch-free; ReduceProd, which passed with axes, is."""
    noop = NodeUse("ReduceSum", "", 13, ("float32", "int64"), ("float32",), axis_free=True)
    prod = NodeUse("ReduceProd", "", 18, ("float32", "int64"), ("float32",))
    outcomes = [_case("noop", "pass", noop, lead=3), _case("prod", "pass", prod, lead=3)]
    assert batch_free_ops(outcomes) == ("ReduceProd",)


def test_a_failure_on_an_empty_tensor_is_no_op_evidence_on_ncnn() -> None:
    """The defect empty-tensor owns such failures: Reshape's allowzero=1 (which dynamo exports
    write) is not refused for a crash on a zero-size tensor."""
    ok = NodeUse("Reshape", "", 21, ("float32", "int64"), ("float32",),
                 int_attributes=(("allowzero", "0"),), constant=(1,))  # fmt: skip
    zero = NodeUse("Reshape", "", 21, ("float32", "int64"), ("float32",),
                   int_attributes=(("allowzero", "1"),), constant=(1,), empty=True)  # fmt: skip
    outcomes = (_case("ok", "pass", ok), _case("allowzero_reordered", "fail", zero))
    result = ProbeResult("ncnn", "pnnx", "d", "s", 2, 1, outcomes)
    assert [o.case for o in evidence(result)] == ["ok"]
    (rule,) = derive_profile(result).rules_for("Reshape", "")[-1:]
    assert rule.forbidden_attributes == {}
    # elsewhere such a failure still blames the attribute
    assert _rule(derive_rules(outcomes), "Reshape", "21-22").forbidden_attributes == {
        "allowzero": (1,)
    }


def test_more_inputs_than_every_pass_set_max_inputs() -> None:
    """ncnn's Max with three inputs returns wrong values; its third input's dtype is no
    explanation, since no pass gave a third input."""
    two = NodeUse("Max", "", 13, ("float32", "float32"), ("float32",))
    three = NodeUse("Max", "", 13, ("float32",) * 3, ("float32",))
    rule = _rule(
        derive_rules([_case("two", "pass", two), _case("ex", "fail", three)]), "Max", "13+"
    )
    assert rule.max_inputs == 2 and rule.input_dtypes == {}


def test_a_float_attribute_that_passed_with_one_value_only_is_limited_to_it() -> None:
    """Selu passed with ONNX's default alpha and gamma, failed with alpha=2, gamma=3: the
    defaults alone are allowed. LeakyRelu passed with two alphas: nothing is blamed on alpha."""
    default = (("alpha", "1.6732631921768188"), ("gamma", "1.0507010221481323"))
    selu_ok = NodeUse("Selu", "", 6, ("float32",), ("float32",), float_attributes=default)
    selu_bad = NodeUse("Selu", "", 6, ("float32",), ("float32",),
                       float_attributes=(("alpha", "2.0"), ("gamma", "3.0")))  # fmt: skip
    rules = derive_rules([_case("d", "pass", selu_ok), _case("s", "fail", selu_bad)])
    rule = _rule(rules, "Selu", "6-21")
    assert rule.attributes == {"alpha": (1.6732631921768188,), "gamma": (1.0507010221481323,)}

    def leaky(alpha: str) -> NodeUse:
        return NodeUse("LeakyRelu", "", 16, ("float32",), ("float32",),
                       float_attributes=(("alpha", alpha),))  # fmt: skip

    rules = derive_rules([_case("a", "pass", leaky("0.01")), _case("b", "pass", leaky("0.1")),
                          _case("c", "fail", leaky("0.5"))])  # fmt: skip
    assert _rule(rules, "LeakyRelu", "16+").attributes == {}


def test_dtype_limits_need_a_single_node_pass_where_the_converter_folds_constants() -> None:
    """ncnn's Gather passed only inside larger graphs, on int64 shapes pnnx folds: its float
    failures (a batch-axis artifact) do not limit its dtypes there; elsewhere they do."""
    shape = NodeUse("Gather", "", 13, ("int64", "int64"), ("int64",))
    data = NodeUse("Gather", "", 13, ("float32", "int64"), ("float32",))
    outcomes = [_case("shape", "pass", shape, single=False), _case("gather_1", "fail", data)]
    assert _rule(derive_rules(outcomes, constants=True), "Gather", "13+").input_dtypes == {}
    assert "float32" not in _rule(derive_rules(outcomes), "Gather", "13+").input_dtypes["0"]


def test_an_attribute_every_pass_set_and_the_failure_left_out_becomes_required() -> None:
    """pnnx's Transpose without perm (ONNX's default reverses the axes) fails, with the same
    permutation written out it passes."""
    written = NodeUse("Transpose", "", 21, ("float32",), ("float32",),
                      int_attributes=(("perm", "[2,1,0]"),))  # fmt: skip
    default = NodeUse("Transpose", "", 21, ("float32",), ("float32",))
    rules = derive_rules([_case("perm", "pass", written), _case("default", "fail", default)])
    assert _rule(rules, "Transpose", "21-22").required_attributes == ("perm",)


def test_a_case_that_fails_as_written_and_passes_cut_makes_its_op_batch_bound() -> None:
    """LRN's default case passes with a first axis of 5 because it is near the identity; its
    case with bias 2 fails there and passes cut to one sample: LRN is not batch-free."""
    lrn = NodeUse("LRN", "", 13, ("float32",), ("float32",))
    relu = NodeUse("Relu", "", 14, ("float32",), ("float32",))
    outcomes = [
        _case("lrn_default", "pass", lrn, lead=5),
        _case("lrn", "fail", lrn, lead=5),
        _case("lrn", "pass", lrn, variant="batch1"),
        _case("relu", "pass", relu, lead=3),
    ]
    assert batch_free_ops(outcomes) == ("Relu",)


def test_exporter_cases_add_to_the_next_suite_version_instead_of_replacing_it() -> None:
    """Resize-13 reached only by nnport's exporter cases (asymmetric nearest, as torch writes
    it) keeps version 19's limits from the suite and adds what passed: asymmetric is allowed,
    tf_crop_and_resize (failed at 19, never tried at 13) is still refused."""

    def resize(version: int, ctm: str, nearest: str) -> NodeUse:
        return NodeUse("Resize", "", version, ("float32", "", "float32"), ("float32",),
                       attributes=(("coordinate_transformation_mode", ctm), ("mode", "nearest"),
                                   ("nearest_mode", nearest)), constant=(2,))  # fmt: skip

    outcomes = [
        _case("suite_ok", "pass", resize(19, "half_pixel", "round_prefer_floor")),
        _case("suite_crop", "fail", resize(19, "tf_crop_and_resize", "round_prefer_floor")),
        _case("nnport_resize_nearest_opset13", "pass", resize(13, "asymmetric", "floor")),
    ]
    rule = _rule(derive_rules(outcomes), "Resize", "13-17")
    assert set(rule.attributes["coordinate_transformation_mode"]) == {"asymmetric", "half_pixel"}
    assert "as version 19" in rule.note
    # without the suite's evidence, the exporter case alone would limit nothing
    alone = _rule(derive_rules(outcomes[2:]), "Resize", "13-17")
    assert "coordinate_transformation_mode" not in alone.attributes


def test_values_that_passed_apart_and_failed_together_are_refused_together() -> None:
    """ncnn's Resize: cubic passed (half_pixel), asymmetric passed (nearest), cubic with
    asymmetric failed; the pair is refused, each value alone stays allowed. nearest_mode is
    not judged outside mode="nearest", so it pairs with nothing there."""

    def resize(mode: str, ctm: str) -> NodeUse:
        return NodeUse("Resize", "", 19, ("float32", "", "float32"), ("float32",),
                       attributes=(("coordinate_transformation_mode", ctm), ("mode", mode),
                                   ("nearest_mode", "floor")), constant=(2,))  # fmt: skip

    outcomes = [
        _case("cubic", "pass", resize("cubic", "half_pixel")),
        _case("nearest", "pass", resize("nearest", "asymmetric")),
        _case("cubic_asymmetric", "fail", resize("cubic", "asymmetric")),
    ]
    rule = _rule(derive_rules(outcomes), "Resize", "19+")
    assert rule.forbidden_combinations == (
        (("coordinate_transformation_mode", "asymmetric"), ("mode", "cubic")),
    )
    assert not rule.forbidden_attributes and not rule.attributes
