"""Defect dynamic-rank: OpenVINO's CPU plugin refuses a node whose output rank is known only at
run time. check flags it on openvino only, and its verdict matches real OpenVINO on each shape
of the pattern (reductions, Squeeze, Unsqueeze; one or more run-time axes; constant axes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx.parser
import pytest

from nnport.backends import make_runner
from nnport.check import check
from nnport.errors import BackendError
from nnport.model.io import load
from nnport.probe.reproduce import reproduces
from nnport.targets import load_target

pytest.importorskip("openvino")

RUNTIME_AXES = """
    <ir_version: 8, opset_import: ["" : 18]>
    g (float[1, 4, 1] x, int64[{n}] axes) => (float y) {{ y = {op}(x, axes) }}
"""
CONSTANT_AXES = """
    <ir_version: 8, opset_import: ["" : 18]>
    g (float[1, 4, 1] x) => (float y) {{
        axes = Constant<value = int64[2] {{0, 2}}>()
        y = {op}(x, axes)
    }}
"""
# (op with attributes, number of run-time axes) -> whether OpenVINO 2026.4 runs it
CASES = {
    ("ReduceSum<keepdims = 0>", 1): True,
    ("ReduceSum<keepdims = 0>", 2): False,
    ("ReduceMax<keepdims = 0>", 2): False,
    ("ReduceMean<keepdims = 1>", 2): True,
    ("Squeeze", 1): True,
    ("Squeeze", 2): False,
    ("Unsqueeze", 1): False,
}


def test_the_defect_reproduces_on_openvino_only() -> None:
    # when an OpenVINO upgrade fixes it, this fails: regenerate the profile (probe_profiles.py)
    assert reproduces("dynamic-rank", "openvino")
    assert not reproduces("dynamic-rank", "onnxruntime")
    assert "dynamic-rank" in load_target("openvino").graph.defects
    assert "dynamic-rank" not in load_target("ncnn").graph.defects


@pytest.mark.parametrize(("op", "count"), list(CASES), ids=[f"{o}-{n}" for o, n in CASES])
def test_check_agrees_with_openvino(tmp_path: Path, op: str, count: int) -> None:
    path = tmp_path / "m.onnx"
    onnx.save(onnx.parser.parse_model(RUNTIME_AXES.format(n=count, op=op)), path)
    feeds = {"x": np.ones((1, 4, 1), np.float32), "axes": np.array([0, 2][:count], np.int64)}
    runs = CASES[(op, count)]
    report = check(load(path), "openvino")
    assert report.deployable == runs
    if not runs:
        (v,) = report.violations  # the probe found Unsqueeze needs constant axes: said once
        assert v.rule in ("dynamic-rank", "input-not-constant") and "'axes'" in v.message
        with pytest.raises(BackendError), make_runner("openvino", path) as runner:
            runner.infer(feeds)
    else:
        with make_runner("openvino", path) as runner:
            runner.infer(feeds)
    assert check(load(path), "onnxruntime").deployable


def test_constant_axes_are_fine(tmp_path: Path) -> None:
    for op in ("ReduceSum<keepdims = 0>", "Squeeze", "Unsqueeze"):
        path = tmp_path / "c.onnx"
        onnx.save(onnx.parser.parse_model(CONSTANT_AXES.format(op=op)), path)
        assert check(load(path), "openvino").deployable, op
        with make_runner("openvino", path) as runner:
            runner.infer({"x": np.ones((1, 4, 1), np.float32)})
