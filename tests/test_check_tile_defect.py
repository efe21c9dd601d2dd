"""Defect tile-runtime-repeats: OpenVINO's Tile returns wrong values, with no error, when its
repeats are known only at run time, the first axis is above 1 and three other axes repeat.
check flags exactly the shapes where that can happen, and real OpenVINO agrees on each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx.parser
import pytest

from nnport.backends import make_runner
from nnport.check import check
from nnport.model.io import load
from nnport.probe.reproduce import reproduces
from nnport.targets import load_target

pytest.importorskip("openvino")

FED = """
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[{shape}] x, int64[4] r) => (float[a, b, c, d] y) {{ y = Tile(x, r) }}
"""
FROM_SHAPE = """
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[N, 3, 4, 5] x) => (float[a, b, c, d] y) {{
        s = Shape(x)
        start = Constant<value = int64[1] {{0}}>()
        end = Constant<value = int64[1] {{1}}>()
        n = Slice(s, start, end)
        {repeats}
        y = Tile(x, r)
    }}
"""
BATCH_REPEAT = """ones = Constant<value = int64[3] {1, 1, 1}>()
        r = Concat<axis = 0>(n, ones)"""
EVERY_AXIS = """four = Constant<value = int64[1] {4}>()
        r = Expand(n, four)"""


def _models() -> dict[str, tuple[str, dict[str, np.ndarray], bool]]:
    """name -> (model text, feeds, whether OpenVINO gets it wrong)"""
    x2 = np.arange(120, dtype=np.float32).reshape(2, 3, 4, 5)
    x1 = x2[:1].copy()
    reps = np.array([1, 2, 2, 2], np.int64)
    return {
        "fed, batch 2": (FED.format(shape="2, 3, 4, 5"), {"x": x2, "r": reps}, True),
        "fed, batch 1": (FED.format(shape="1, 3, 4, 5"), {"x": x1, "r": reps}, False),
        "batch repeat from a dynamic shape": (FROM_SHAPE.format(repeats=BATCH_REPEAT), {"x": x2}, False),
        "every axis from a dynamic shape": (FROM_SHAPE.format(repeats=EVERY_AXIS), {"x": x2}, True),
    }  # fmt: skip


def test_the_defect_reproduces_on_openvino_only() -> None:
    assert reproduces("tile-runtime-repeats", "openvino")
    assert not reproduces("tile-runtime-repeats", "onnxruntime")
    assert "tile-runtime-repeats" in load_target("openvino").graph.defects


@pytest.mark.parametrize("name", list(_models()))
def test_check_flags_where_openvino_is_wrong(tmp_path: Path, name: str) -> None:
    text, feeds, wrong = _models()[name]
    path = tmp_path / "tile.onnx"
    onnx.save(onnx.parser.parse_model(text), path)
    with make_runner("onnxruntime", path) as ref, make_runner("openvino", path) as ov:
        expected, got = ref.infer(feeds)["y"], ov.infer(feeds)["y"]
    assert (not np.array_equal(expected, got)) == wrong  # the measurement, rerun
    rules = [v.rule for v in check(load(path), "openvino").violations]
    assert ("runtime-defect" in rules) == wrong, rules
    assert check(load(path), "onnxruntime").deployable


def test_constant_repeats_are_right_and_not_flagged(tmp_path: Path) -> None:
    text = """
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[2, 3, 4, 5] x) => (float[2, 6, 8, 10] y) {
            r = Constant<value = int64[4] {1, 2, 2, 2}>()
            y = Tile(x, r)
        }
    """
    path = tmp_path / "tile.onnx"
    onnx.save(onnx.parser.parse_model(text), path)
    x = np.arange(120, dtype=np.float32).reshape(2, 3, 4, 5)
    with make_runner("onnxruntime", path) as ref, make_runner("openvino", path) as ov:
        assert np.array_equal(ref.infer({"x": x})["y"], ov.infer({"x": x})["y"])
    assert check(load(path), "openvino").deployable


def test_repeats_from_shapes_are_fixed_by_freezing_them(tmp_path: Path) -> None:
    """The violation names freeze-shapes when the repeats come from a dynamic shape: once the
    shapes are fixed, the repeats fold to a constant, which OpenVINO tiles right."""
    import onnx_ir as ir

    from nnport.passes import fix

    path = tmp_path / "tile.onnx"
    onnx.save(onnx.parser.parse_model(FROM_SHAPE.format(repeats=EVERY_AXIS)), path)
    (v,) = check(load(path), "openvino").violations
    assert (v.rule, v.fix) == ("runtime-defect", "freeze-shapes")
    result = fix(load(path), "openvino", input_shapes={"x": (2, 3, 4, 5)})
    assert result.deployable and result.verified
    fixed = tmp_path / "fixed.onnx"
    onnx.save(ir.serde.serialize_model(result.model), fixed)
    x = {"x": np.arange(120, dtype=np.float32).reshape(2, 3, 4, 5)}
    with make_runner("onnxruntime", path) as ref, make_runner("openvino", fixed) as ov:
        assert np.array_equal(ref.infer(x)["y"], ov.infer(x)["y"])
