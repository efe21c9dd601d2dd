"""The probe engine: node-suite cases through real runtimes, crash isolation, profile derivation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnport.check import check
from nnport.model.io import load
from nnport.probe.derive import derive_rules
from nnport.probe.engine import CaseOutcome, NodeUse, ProbeResult, probe_backend
from nnport.probe.worker import compare_outputs
from nnport.targets import read_profile


@pytest.fixture(scope="module")
def ort_probe(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProbeResult, Path]:
    """One small ONNX Runtime probe shared by the tests below (cases also converted to opset 11)."""
    out = tmp_path_factory.mktemp("probe") / "ort.toml"
    ops = ["Abs", "Relu", "Gather", "Softmax", "Conv"]
    return probe_backend("onnxruntime", out, ops=ops, opsets=(11,), workers=2), out


def test_crash_in_a_case_is_recorded_and_the_probe_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    # The worker aborts (a real SIGABRT) on test_abs; the probe records it and restarts a worker.
    monkeypatch.setenv("NNPORT_PROBE_ABORT_ON", "test_abs@13")
    result = probe_backend("onnxruntime", ops=["Abs", "Neg"], opsets=())
    by_case = {o.case: o for o in result.outcomes}
    assert by_case["test_abs"].status == "crash"
    assert "signal" in by_case["test_abs"].message
    assert by_case["test_neg"].status == "pass"
    assert result.passed == result.cases - 1


def test_probe_converts_cases_down_and_writes_a_valid_profile(
    ort_probe: tuple[ProbeResult, Path],
) -> None:
    result, out = ort_probe
    softmax = {o.opset for o in result.outcomes if o.op == "Softmax" and o.status == "pass"}
    assert {11, 13} <= softmax  # Softmax-13 cases, and their Softmax-11 conversions
    profile = read_profile(out)
    assert profile.source.probe.startswith("nnport targets probe, onnxruntime ")
    probed = {
        r.versions_text()
        for r in profile.rules_for("Softmax", "")
        if not r.note.startswith("not probed")
    }
    assert probed == {"11-12", "13+"}
    # Softmax-1 was never reached (no adapter down to it): assumed like the next probed version
    assert "1-10" in {r.versions_text() for r in profile.rules_for("Softmax", "")}


def test_onnxruntime_probe_agrees_with_the_kernel_registry_profile(
    ort_probe: tuple[ProbeResult, Path],
) -> None:
    # Cases that convert and match must be deployable for the registry-derived profile; a case
    # ONNX Runtime refuses to load (no kernel) must not be.
    import onnx_ir as ir

    from nnport.probe.engine import load_cases

    result, _ = ort_probe
    own = [o for o in result.at_own_opset() if o.status in ("pass", "fail")]
    models = {c.name: c.model for c in load_cases(ops=sorted({o.op for o in own}))}
    checked = 0
    for outcome in own:
        if outcome.status == "pass" or outcome.stage == "convert":
            model = ir.serde.deserialize_model(models[outcome.case])
            verdict = check(model, "onnxruntime").deployable
            assert verdict == (outcome.status == "pass"), (outcome.case, outcome.message)
            checked += 1
    assert checked >= 15


def test_compare_follows_the_backend_runner_rule() -> None:
    ref = np.array([1.0, 2.0], np.float32)
    assert compare_outputs([ref], [ref + 1e-6], 1e-3, 1e-7) == ""
    assert "differs" in compare_outputs([ref], [ref + 0.1], 1e-3, 1e-7)
    assert "dtype" in compare_outputs([ref], [ref.astype(np.float64)], 1e-3, 1e-7)
    assert compare_outputs([ref], [ref.astype(np.float64)], 1e-3, 1e-7, loose_dtype=True) == ""
    assert "shape" in compare_outputs([ref], [ref[:1]], 1e-3, 1e-7)


def _use(dtype: str, mode: str = "nearest", constant: tuple[int, ...] = ()) -> tuple[NodeUse, ...]:
    return (
        NodeUse("Resize", "", 19, (dtype, "", "float32"), (dtype,), (("mode", mode),), constant),
    )


def _outcome(status: str, nodes: tuple[NodeUse, ...]) -> CaseOutcome:
    return CaseOutcome("case", "Resize", "", 19, 19, status, nodes=nodes)  # type: ignore[arg-type]


def test_derivation_restricts_only_what_failed_and_never_passed() -> None:
    outcomes = [
        _outcome("pass", _use("float32", "nearest")),
        _outcome("pass", _use("float32", "linear")),
        _outcome("fail", _use("float32", "cubic")),  # a mode that never passes
        _outcome("fail", _use("int8", "nearest")),  # a dtype that never passes
    ]
    rules = {r.versions_text(): r for r in derive_rules(outcomes)}
    rule = rules["19+"]
    assert rule.attributes == {"mode": ("linear", "nearest")}
    # every dtype the schema allows, except the one that failed and never passed
    assert "float32" in rule.input_dtypes["0"] and "int8" not in rule.input_dtypes["0"]
    assert "uint8" in rule.input_dtypes["0"]  # never tried: not refused
    assert "int8" not in rule.output_dtypes["0"]
    assert rule.constant_inputs == ()
    # older Resize versions no case reached follow the probed one, and say so
    assert rules["13-17"].note.startswith("not probed")
    # With frozen inputs (ncnn), a position that only ever passed as a constant must stay one.
    frozen = [_outcome("pass", _use("float32", constant=(2,)))]
    rules = {r.versions_text(): r for r in derive_rules(frozen, constants=True)}
    assert rules["19+"].constant_inputs == (2,)  # scales: a parameter, typed unlike the data


def test_probe_cli_writes_the_profile(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "relu.toml"
    result = cli("targets", "probe", "--backend", "onnxruntime", "--op", "Relu", "-o", out)
    assert result.code == 0, result.err
    assert "cases pass" in result.out
    assert read_profile(out).rules_for("Relu", "")


def test_check_calls_a_clean_resnet_deployable_on_the_probed_profiles(
    resnet18_export: Path,
) -> None:
    model = load(resnet18_export)
    assert check(model, "openvino").deployable
