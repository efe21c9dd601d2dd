"""A converter's op table supplements a probed profile, minus the ops the probe refutes: an op
whose single-node case failed at batch 1 with nothing else in check explaining the failure."""

from __future__ import annotations

import pytest

from nnport.check import check
from nnport.probe.batch import BATCH_ONE
from nnport.probe.derive import derive_profile
from nnport.probe.engine import CaseOutcome, ProbeResult
from nnport.probe.nodes import NodeUse
from nnport.probe.table import refute_table_ops, supplement
from nnport.targets import load_target


def _outcome(
    case: str, op: str, version: int, status: str, ints: tuple = (), opset: int = 25
) -> CaseOutcome:
    """A single-node case run cut to batch 1 (opset 25: the probed range reaches it)."""
    use = NodeUse(op, "", version, ("float32",), ("float32",), int_attributes=ints)
    return CaseOutcome(case, op, "", opset, opset, status, nodes=(use,),  # type: ignore[arg-type]
                       variant=BATCH_ONE, leading_dim=1)  # fmt: skip


def test_refuted_ops_are_left_out_and_list_attributes_refused_instead() -> None:
    outcomes = (
        _outcome("test_relu", "Relu", 14, "pass"),
        _outcome("test_selu", "Selu", 22, "fail"),  # pnnx ignores Selu: the op itself
        _outcome("test_softmax_axis_1", "Softmax", 13, "fail", (("axis", "1"),)),  # batch axis
        _outcome(
            "test_transpose_all_permutations_0", "Transpose", 21, "fail", (("perm", "[0,1,2]"),)
        ),
    )
    result = ProbeResult("ncnn", "pnnx", "2026-11-28", "test", 4, 1, outcomes)
    probed = derive_profile(result)
    table = ["Relu", "Selu", "Softmax", "Transpose"]
    found = refute_table_ops(result, table, probed, "a table")
    # Softmax's failure is check's rule batch-axis-unknown (3-D, no anchor), not the op's
    assert found.ops == {"Selu"}
    assert found.limits() == {"Transpose": {"perm": ([0, 1, 2],)}}
    kept = [op for op in table if op not in found.ops]
    profile = supplement(probed, kept, "a table", found.limits())
    assert {r.op for r in profile.ops} == {"Relu", "Softmax", "Transpose"}
    assert "plus 2 ops from a table" in profile.source.text()


def test_a_failure_asking_for_optional_outputs_refuses_those_outputs_not_the_op() -> None:
    """Every LayerNormalization case asks for Mean and InvStdDev, which pnnx cannot make: the
    outputs are refused, and a LayerNormalization giving Y alone (as exporters write it) is
    accepted."""
    use = NodeUse("LayerNormalization", "", 17, ("float32", "float32", "float32"),
                  ("float32", "float32", "float32"))  # fmt: skip
    failed = CaseOutcome("test_layer_normalization_2d_axis1", "LayerNormalization", "", 17, 17,
                         "fail", nodes=(use,), variant=BATCH_ONE, leading_dim=1)  # fmt: skip
    relu = _outcome("test_relu", "Relu", 14, "pass")
    result = ProbeResult("ncnn", "pnnx", "2026-11-28", "test", 2, 1, (relu, failed))
    found = refute_table_ops(result, ["Relu", "LayerNormalization"], derive_profile(result), "t")
    assert found.ops == set()
    assert found.outputs == {"LayerNormalization": {1, 2}}
    (rule,) = supplement(derive_profile(result), ["LayerNormalization"], "t", {},
                         found.outputs).rules_for("LayerNormalization", "")  # fmt: skip
    assert rule.absent_outputs == (1, 2)


@pytest.mark.parametrize(
    "op", ["Softsign", "ThresholdedRelu", "Tile", "ArgMax", "ArgMin", "CumSum", "TopK"]
)
def test_the_shipped_ncnn_profile_refuses_the_refuted_table_ops(op: str) -> None:
    profile = load_target("ncnn")
    assert op not in {r.op for r in profile.ops}, f"{op} is back in ncnn.toml: rerun the probe"
    assert "Transpose" in {r.op for r in profile.ops}


def test_prelu_is_probed_by_the_exporter_cases_with_a_constant_slope() -> None:
    """The suite refuted PRelu (slopes along the last axis or fed at run time); the exporter
    cases' per-channel slopes pass, and the slope stays a constant (recorded by hand)."""
    rules = load_target("ncnn").rules_for("PRelu", "")
    assert rules and all(rule.constant_inputs == (1,) for rule in rules)


def test_the_shipped_ncnn_profile_takes_selu_with_its_default_constants_only() -> None:
    """pnnx maps Selu to a fixed-constant layer: the probe passed the default alpha and gamma
    and failed alpha=2, gamma=3, so the profile allows the defaults alone."""
    (*_, rule) = load_target("ncnn").rules_for("Selu", "")
    assert rule.attributes["alpha"] == pytest.approx((1.6732632,))
    assert rule.attributes["gamma"] == pytest.approx((1.0507010,))


def test_ncnn_really_cannot_run_selu(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The measurement behind the refutation, rerun: pnnx leaves Selu to no ncnn layer."""
    pytest.importorskip("ncnn")
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    from nnport.backends import make_runner
    from nnport.errors import NnportError
    from nnport.model.io import load

    node = helper.make_node("Selu", ["x"], ["y"], alpha=2.0, gamma=3.0)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 5])],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "selu.onnx")
    assert not check(load(tmp_path / "selu.onnx"), "ncnn").deployable
    x = np.random.default_rng(0).standard_normal((1, 3, 4, 5)).astype(np.float32)
    with (
        pytest.raises(NnportError, match="Selu"),
        make_runner("ncnn", load(tmp_path / "selu.onnx")) as runner,
    ):
        runner.infer({"x": x})


def test_the_saved_outcomes_build_the_shipped_ncnn_profile() -> None:
    """The shipped ncnn.toml is what ``benchmarks/probe_profiles.py ncnn --from-raw`` makes of
    the saved outcomes today (derivation, pnnx's table less the refuted ops, Slice steps)."""
    import gzip
    import sys
    from pathlib import Path

    from nnport.results import loads
    from nnport.targets import profile_to_dict

    root = Path(__file__).resolve().parents[1]
    raw = root / "benchmarks" / "results" / "probe-ncnn.json.gz"
    if not raw.exists():
        pytest.skip("no saved ncnn probe outcomes")
    sys.path.insert(0, str(root / "benchmarks"))
    try:
        from probe_profiles import build_profile
    finally:
        sys.path.pop(0)
    result = loads(ProbeResult, gzip.decompress(raw.read_bytes()).decode())
    built = profile_to_dict(build_profile(result, "ncnn"))
    shipped = profile_to_dict(load_target("ncnn"))
    assert built["graph"] == shipped["graph"]
    assert built["ops"] == shipped["ops"], "rerun benchmarks/probe_profiles.py ncnn --from-raw"


def test_newer_versions_no_case_tried_come_from_the_table() -> None:
    """A table op probed only at older versions gets its newer ones from the table, unless a
    case tried them (then the probe speaks)."""
    from nnport.probe.table import newer_table_versions

    split13 = _outcome("s13", "Split", 13, "pass")
    base = derive_profile(ProbeResult("ncnn", "x", "d", "s", 1, 1, (split13,), None, 0.0, {}))
    added = newer_table_versions(base, ["Split"], ProbeResult(
        "ncnn", "x", "d", "s", 1, 1, (split13,), None, 0.0, {}), "table")  # fmt: skip
    assert [r.versions_text() for r in added.rules_for("Split", "")][-1] == "18+"
    failed18 = _outcome("s18", "Split", 18, "fail")
    tried = ProbeResult("ncnn", "x", "d", "s", 2, 1, (split13, failed18), None, 0.0, {})
    assert newer_table_versions(base, ["Split"], tried, "table").ops == base.ops


def test_ncnn_runs_a_split18_export(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """torch.split at opset 18 exports Split-18, which the probe's Split cases never reached:
    check accepts it (from pnnx's table) and ncnn matches ONNX Runtime."""
    pytest.importorskip("ncnn")
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from nnport.model.io import load
    from nnport.verify.compare import CompareOptions, compare

    rng = np.random.default_rng(0)
    weights = [
        numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(np.array([4, 4], np.int64), "sizes"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Split", ["c", "sizes"], ["a", "b"], axis=1),
        helper.make_node("Relu", ["a"], ["r"]),
        helper.make_node("Add", ["r", "b"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "split18", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 16, 16])], weights,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "split18.onnx")
    assert check(load(tmp_path / "split18.onnx"), "ncnn").deployable
    result = compare(load(tmp_path / "split18.onnx"), backend="ncnn", options=CompareOptions())
    assert result.passed
