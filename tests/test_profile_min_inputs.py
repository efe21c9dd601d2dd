"""Probe-derived ``min_inputs`` (rule input-missing): a failing case that gave fewer inputs than
every passing case of its op version, with nothing else to blame (ncnn's one-input Sum, its
Split-13 without ``split``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import onnx
import onnx.parser
import onnx_ir as ir
import pytest

from nnport.check import check
from nnport.probe.derive import derive_rules
from nnport.probe.engine import CaseOutcome
from nnport.probe.nodes import NodeUse
from nnport.targets import dump_profile, load_target, read_profile


def _outcome(status: str, version: int, *inputs: str) -> CaseOutcome:
    use = NodeUse("Split", "", version, inputs, ("float32", "float32"), (), (), (("axis", "0"),), 2)
    return CaseOutcome("case", "Split", "", version, version, status, "run" if status == "fail" else "",  # type: ignore[arg-type]
                       nodes=(use,), graph_inputs=("float32",), graph_outputs=("float32",))  # fmt: skip


def _model(text: str) -> ir.Model:
    return ir.serde.deserialize_model(onnx.parser.parse_model(text))


SPLIT_13 = """
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 6] x{extra}) => (float[1, 3] a, float[1, 3] b) {{ a, b = Split<axis = 1>({args}) }}
"""


def test_fewer_inputs_than_every_pass_set_min_inputs(tmp_path: Path) -> None:
    rules = derive_rules(
        [_outcome("pass", 13, "float32", "int64"), _outcome("fail", 13, "float32")]
    )
    (split13,) = [r for r in rules if r.versions_text() == "13-17"]
    assert split13.min_inputs == 2 and split13.input_dtypes == {}  # not a dtype limit
    # Split-11 (no 'split' input) copies Split-13's limits but not the input count
    (split11,) = [r for r in rules if r.versions_text() == "11-12"]
    assert split11.min_inputs == 0
    path = dump_profile(
        dataclasses.replace(load_target("onnxruntime"), ops=tuple(rules)), tmp_path / "p.toml"
    )
    assert read_profile(path).ops == tuple(rules)  # round trip
    (v,) = check(_model(SPLIT_13.format(extra="", args="x")), str(path)).violations
    assert v.rule == "input-missing" and "given 1 input" in v.message and "'split'" in v.message
    given = SPLIT_13.format(extra=", int64[2] s", args="x, s")
    assert check(_model(given), str(path)).deployable


def test_one_more_input_than_failed_is_enough() -> None:
    """Refused up to the count that failed: a pass with 3 inputs does not refuse 2."""
    outcomes = [_outcome("pass", 13, "float32", "int64", "int64"), _outcome("fail", 13, "float32")]
    assert {r.min_inputs for r in derive_rules(outcomes) if r.versions_text() == "13-17"} == {2}


def test_ncnn_really_fails_on_what_its_profile_now_refuses(tmp_path: Path) -> None:
    """Probe real pnnx/ncnn (each run in a worker process: these crash it) and hold the
    shipped profile's verdicts to the outcomes."""
    pytest.importorskip("ncnn")
    from nnport.probe.engine import probe_backend

    cases = {
        "test_sum_example": True,
        "test_sum_one_input": False,
        "test_split_variable_parts_1d_opset13": True,
        "test_split_equal_parts_1d_opset13": False,
    }
    result = probe_backend("ncnn", cases=list(cases), opsets=(), timeout=120)
    real = {o.case: o.status == "pass" for o in result.outcomes if not o.variant}
    assert real == cases
    from nnport.probe.engine import case_inputs, load_cases

    for case in load_cases(names=list(cases)):
        model, _ = case_inputs(case, freeze=True)
        report = check(ir.serde.deserialize_model(model), "ncnn")
        assert report.deployable == cases[case.name], case.name
        if not cases[case.name]:
            assert [v.rule for v in report.violations] == ["input-missing"], case.name
