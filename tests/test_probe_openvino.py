"""The probe regenerates the shipped openvino profile (a few operators, real OpenVINO)."""

from __future__ import annotations

import pytest

from nnport.probe.derive import derive_rules
from nnport.probe.engine import probe_backend
from nnport.targets import load_target

pytest.importorskip("openvino")

# Operators with few, quick cases, each probed at several versions (Softmax-13 cases also run
# converted to Softmax-11). Versions and attribute limits must equal the shipped file's; dtype
# lists are not compared (the full probe also sees these ops inside other cases' graphs).
OPS = ["Relu", "Softmax", "Sigmoid"]


def _probed_rules() -> list:  # type: ignore[type-arg]
    result = probe_backend("openvino", ops=OPS, opsets=(17, 13, 11), workers=4)
    return [r for r in derive_rules(result.outcomes) if not r.note.startswith("not probed")]


def test_probe_regenerates_the_shipped_openvino_profile() -> None:
    shipped = load_target("openvino")
    probed = _probed_rules()
    assert probed, "the probe found no supported version at all"
    for rule in probed:
        entries = {r.versions_text(): r for r in shipped.rules_for(rule.op, rule.domain)}
        assert rule.versions_text() in entries, (rule.op, rule.versions_text(), sorted(entries))
        shipped_rule = entries[rule.versions_text()]
        assert shipped_rule.attributes == rule.attributes, rule.op
        # the finer limits (refused integer values, dtype pairs, run-time inputs) too
        assert shipped_rule.forbidden_attributes == rule.forbidden_attributes, rule.op
        assert shipped_rule.forbidden_dtype_pairs == rule.forbidden_dtype_pairs, rule.op
        assert shipped_rule.constant_inputs == rule.constant_inputs, rule.op
        assert shipped_rule.absent_inputs == rule.absent_inputs, rule.op
        assert shipped_rule.max_rank == rule.max_rank, rule.op
    # and nothing shipped for these ops is missing from the fresh probe
    fresh = {(r.op, r.versions_text()) for r in probed}
    for op in OPS:
        for entry in shipped.rules_for(op, ""):
            if not entry.note.startswith("not probed"):
                assert (op, entry.versions_text()) in fresh, (op, entry.versions_text())


def test_the_saved_outcomes_derive_the_shipped_openvino_profile() -> None:
    """The shipped file is what the current derivation makes of the saved probe outcomes
    (``benchmarks/probe_profiles.py openvino --from-raw``): a change to the derivation that
    is not followed by regenerating the profile fails here."""
    import gzip
    from pathlib import Path

    from nnport.probe.derive import derive_profile
    from nnport.probe.engine import ProbeResult
    from nnport.probe.reproduce import add_defects
    from nnport.results import loads
    from nnport.targets import profile_to_dict

    raw = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "probe-openvino.json.gz"
    if not raw.exists():
        pytest.skip("no saved openvino probe outcomes")
    result = loads(ProbeResult, gzip.decompress(raw.read_bytes()).decode())
    derived = profile_to_dict(add_defects(derive_profile(result, "openvino"), "openvino"))
    shipped = profile_to_dict(load_target("openvino"))
    assert derived["graph"] == shipped["graph"]
    assert derived["ops"] == shipped["ops"], (
        "rerun benchmarks/probe_profiles.py openvino --from-raw"
    )
