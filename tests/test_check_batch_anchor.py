"""Rule batch-axis-unknown (ncnn): pnnx needs an op such as Conv to tell the batch axis; without
one, axis-dependent ops run one axis off. check flags them; a real conversion shows why."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from nnport.check import check
from nnport.model.io import load
from nnport.targets import load_target


def _concat_model(anchor: bool) -> onnx.ModelProto:
    """x[1,3,8,8] -> (1x1 identity Conv) -> Concat(x, x, axis=1)."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["h"], name="conv")] if anchor else []
    src = "h" if anchor else "x"
    nodes.append(helper.make_node("Concat", [src, src], ["y"], axis=1, name="cat"))
    inits = [numpy_helper.from_array(np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1), "w")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, 8, 8])],
        inits if anchor else [],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def test_axis_ops_without_an_anchor_are_flagged_for_ncnn(tmp_path: Path) -> None:
    onnx.save(_concat_model(anchor=False), tmp_path / "bare.onnx")
    report = check(load(tmp_path / "bare.onnx"), "ncnn")
    assert not report.deployable
    (v,) = [v for v in report.violations if v.rule == "batch-axis-unknown"]
    assert v.node == "cat" and v.op == "Concat" and "batch axis" in v.message


def test_an_anchor_anywhere_clears_the_rule_and_other_targets_never_have_it(
    tmp_path: Path,
) -> None:
    onnx.save(_concat_model(anchor=True), tmp_path / "anchored.onnx")
    onnx.save(_concat_model(anchor=False), tmp_path / "bare.onnx")
    anchored = check(load(tmp_path / "anchored.onnx"), "ncnn")
    assert not [v for v in anchored.violations if v.rule == "batch-axis-unknown"]
    for target in ("onnxruntime", "openvino", "ascend310"):
        bare = check(load(tmp_path / "bare.onnx"), target)
        assert not [v for v in bare.violations if v.rule == "batch-axis-unknown"]
    assert "Conv" in load_target("ncnn").graph.batch_anchor_ops


def test_ncnn_really_concats_the_wrong_axis_without_an_anchor(tmp_path: Path) -> None:
    pytest.importorskip("ncnn")
    from nnport.backends import make_runner

    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    expected = np.concatenate([x, x], axis=1)
    errors = {}
    for anchor in (False, True):
        path = tmp_path / f"m{int(anchor)}.onnx"
        onnx.save(_concat_model(anchor), path)
        with make_runner("ncnn", load(path)) as runner:
            got = next(iter(runner.infer({"x": x}).values()))
        errors[anchor] = float(np.abs(got.reshape(expected.shape) - expected).max())
    assert errors[True] < 1e-5  # with the Conv: channels joined, as ONNX means
    assert errors[False] > 0.1  # without: pnnx joins another axis, and no error is raised


def _single(op: str, shape: list[int], **attrs: object) -> onnx.ModelProto:
    """One node on x[shape], no anchor op; the output's shape from ONNX shape inference."""
    node = helper.make_node(op, ["x"], ["y"], name="n", **attrs)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)
    probe = helper.make_model(helper.make_graph([node], "g", [x], []),
                              opset_imports=[helper.make_opsetid("", 13)])  # fmt: skip
    (y,) = onnx.shape_inference.infer_shapes(probe).graph.value_info
    model = helper.make_model(helper.make_graph([node], "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 13)])  # fmt: skip
    model.ir_version = 8
    return model


@pytest.mark.parametrize(
    ("op", "shape", "attrs", "flagged"),
    [
        ("Softmax", [1, 4, 5], {"axis": 2}, True),  # 3-D, first axis 1: pnnx drops it
        ("Softmax", [3, 4, 5], {"axis": 2}, False),  # a first axis of 3 is kept as an axis
        ("Softmax", [4, 5], {"axis": 1}, False),  # 2-D: not measured to fail
        ("ReduceMax", [1, 4, 5], {}, False),  # over every axis: no axis to get wrong
        ("ReduceMax", [1, 4, 5], {"axes": [1]}, True),
        ("Transpose", [1, 4, 5], {"perm": [1, 0, 2]}, True),  # moves the batch axis
        ("Transpose", [1, 4, 5], {"perm": [0, 2, 1]}, False),
        ("Transpose", [1, 4, 5], {}, True),  # default: reversed
    ],
)
def test_batch_like_tensors_of_rank_three_are_flagged_too(
    tmp_path: Path, op: str, shape: list[int], attrs: dict[str, object], flagged: bool
) -> None:
    onnx.save(_single(op, shape, **attrs), tmp_path / "m.onnx")
    report = check(load(tmp_path / "m.onnx"), "ncnn")
    found = [v for v in report.violations if v.rule == "batch-axis-unknown"]
    assert bool(found) == flagged, report.violations


def test_ncnn_really_gets_rank_three_axis_ops_wrong_without_an_anchor(tmp_path: Path) -> None:
    pytest.importorskip("ncnn")
    from nnport.backends import make_runner
    from nnport.errors import NnportError

    x = np.random.default_rng(0).standard_normal((1, 4, 5)).astype(np.float32)
    cases = {
        "softmax": (_single("Softmax", [1, 4, 5], axis=1), None),
        "transpose": (_single("Transpose", [1, 4, 5], perm=[1, 0, 2]), x.transpose(1, 0, 2)),
        "kept": (_single("Transpose", [1, 4, 5], perm=[0, 2, 1]), x.transpose(0, 2, 1)),
    }
    e = np.exp(x - x.max(axis=1, keepdims=True))
    cases["softmax"] = (cases["softmax"][0], e / e.sum(axis=1, keepdims=True))
    right = {}
    for name, (model, expected) in cases.items():
        onnx.save(model, tmp_path / f"{name}.onnx")
        try:
            with make_runner("ncnn", load(tmp_path / f"{name}.onnx")) as runner:
                got = next(iter(runner.infer({"x": x}).values()))
            right[name] = got.shape == expected.shape and bool(
                np.allclose(got, expected, atol=1e-5)
            )
        except NnportError:
            right[name] = False  # refused or crashed: not deployable either
    assert right == {"softmax": False, "transpose": False, "kept": True}


def test_unnamed_nodes_are_labelled_as_the_per_node_rules_label_them(tmp_path: Path) -> None:
    model = _single("Softmax", [1, 4, 5], axis=1)
    model.graph.node[0].name = ""
    onnx.save(model, tmp_path / "m.onnx")
    (v,) = check(load(tmp_path / "m.onnx"), "ncnn").violations
    assert v.node == "Softmax#0" and "'Softmax#0'" in v.message
