"""Rule runtime-defect: OpenVINO's If returns one element of garbage when the taken branch
returns a zero-size constant (torchvision detectors with no detection). check flags it on
openvino only, the probe records it only while it reproduces, and fix rewrites the branch so
real OpenVINO returns what ONNX Runtime returns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from nnport.backends import make_runner
from nnport.check import check
from nnport.check.defects.registry import repro
from nnport.model.io import load
from nnport.passes import fix
from nnport.probe.reproduce import reproduces
from nnport.targets import load_target

pytest.importorskip("openvino")

FEEDS = [
    {"c": np.array(True), "x": np.arange(12, dtype=np.float32).reshape(3, 4)},
    {"c": np.array(False), "x": np.arange(12, dtype=np.float32)[::-1].reshape(3, 4).copy()},
]


def _run(backend: str, path: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    with make_runner(backend, path) as runner:
        return runner.infer(feeds)["y"]


def test_the_defect_reproduces_on_openvino_and_the_profile_lists_it() -> None:
    # when an OpenVINO upgrade fixes it, this fails: regenerate the profile (probe_profiles.py)
    assert reproduces("if-empty-constant", "openvino")
    assert not reproduces("if-empty-constant", "onnxruntime")
    assert "if-empty-constant" in load_target("openvino").graph.defects
    assert "if-empty-constant" not in load_target("onnxruntime").graph.defects


def test_check_flags_the_if_and_fix_makes_openvino_right(tmp_path: Path) -> None:
    model, _ = repro("if-empty-constant")
    path = tmp_path / "if_empty.onnx"
    onnx.save(model, path)
    assert _run("openvino", path, FEEDS[0]).shape == (1,)  # the defect: one element, not none

    report = check(load(path), "openvino")
    (v,) = report.violations
    assert (v.rule, v.op, v.fix) == ("runtime-defect", "If", "materialize-empty-branch")
    assert "then_branch output 0" in v.message
    assert check(load(path), "onnxruntime").deployable

    result = fix(load(path), "openvino", inputs=FEEDS)  # both branches verified
    assert result.deployable and result.verified
    assert [p.fix for p in result.passes if p.kept] == ["materialize-empty-branch"]
    fixed = tmp_path / "fixed.onnx"
    onnx.save(onnx.load_from_string(_serialize(result.model)), fixed)
    for feeds in FEEDS:
        expected = _run("onnxruntime", path, feeds)
        got = _run("openvino", fixed, feeds)
        assert got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)
    assert _run("openvino", fixed, FEEDS[0]).shape == (0,)


def _serialize(model: object) -> bytes:
    import onnx_ir as ir

    return ir.serde.serialize_model(model).SerializeToString()  # type: ignore[arg-type]
