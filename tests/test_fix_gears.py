"""ATC gears: --batch-gears / --image-gears keep those dims dynamic only when the fixed model
matches the original and passes check at every gear shape; the atc line gets the gear option."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from nnport.check import check
from nnport.model.io import load


def _net(baked_hw: bool = False) -> onnx.ModelProto:
    """Conv -> Relu -> GlobalAveragePool -> Flatten -> Gemm on x[N,3,H,W] (any H, W), or with a
    Reshape to [N, 8*16*16] (H and W baked into the graph: image gears must be refused)."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array((rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32), "w"),
        numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "b"),
    ]
    node = helper.make_node
    nodes = [
        node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
        node("Relu", ["c"], ["r"], name="relu"),
    ]
    if baked_hw:
        inits.append(numpy_helper.from_array(np.array([1, 8 * 16 * 16], np.int64), "flat"))
        inits.append(numpy_helper.from_array(
            (rng.standard_normal((4, 8 * 16 * 16)) * 0.01).astype(np.float32), "fc"))  # fmt: skip
        nodes += [node("Reshape", ["r", "flat"], ["f"], name="reshape")]
    else:
        inits.append(numpy_helper.from_array(rng.standard_normal((4, 8)).astype(np.float32), "fc"))
        nodes += [
            node("GlobalAveragePool", ["r"], ["p"], name="gap"),
            node("Flatten", ["p"], ["f"], name="flatten"),
        ]
    nodes.append(node("Gemm", ["f", "fc"], ["y"], transB=1, name="fc"))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    graph = helper.make_graph(nodes, "net", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"x": x})[0])


def test_image_gears_verified_checked_and_in_the_atc_line(cli: Any, tmp_path: Path) -> None:
    src, out = tmp_path / "net.onnx", tmp_path / "net_ascend.onnx"
    onnx.save(_net(), src)
    result = cli("fix", src, "-t", "ascend310", "-o", out, "--image-gears", "16x16,32x24",
                 "--json")  # fmt: skip
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["image_gears"] == [[16, 16], [32, 24]] and data["batch_gears"] == []
    assert "--input_shape=x:1,3,-1,-1" in data["atc_command"]
    assert "--dynamic_image_size=16,16;32,24" in data["atc_command"]
    assert "checked for the target" in data["gears_note"]
    fixed = load(out)
    for h, w in ((16, 16), (32, 24)):
        assert check(fixed, "ascend310", input_shapes={"x": (1, 3, h, w)}).deployable
        x = np.random.default_rng(h).standard_normal((1, 3, h, w)).astype(np.float32)
        np.testing.assert_allclose(_run(out, x), _run(src, x), rtol=1e-5, atol=1e-6)


def test_batch_gears_keep_only_the_batch_dynamic(cli: Any, tmp_path: Path) -> None:
    src, out = tmp_path / "net.onnx", tmp_path / "net_b.onnx"
    onnx.save(_net(), src)
    result = cli("fix", src, "-t", "ascend310", "-o", out, "-s", "x:1x3x20x20",
                 "--batch-gears", "1,4,8", "--json")  # fmt: skip
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert "--input_shape=x:-1,3,20,20" in data["atc_command"]
    assert "--dynamic_batch_size=1,4,8" in data["atc_command"]
    x = np.random.default_rng(0).standard_normal((8, 3, 20, 20)).astype(np.float32)
    np.testing.assert_allclose(_run(out, x), _run(src, x), rtol=1e-5, atol=1e-6)
    assert check(load(out), "ascend310", input_shapes={"x": (8, 3, 20, 20)}).deployable


def test_image_gears_refused_when_the_size_is_baked_in(cli: Any, tmp_path: Path) -> None:
    src, out = tmp_path / "baked.onnx", tmp_path / "baked_fixed.onnx"
    onnx.save(_net(baked_hw=True), src)
    result = cli("fix", src, "-t", "ascend310", "-o", out, "-s", "x:1x3x16x16",
                 "--image-gears", "16x16,32x32", "--json")  # fmt: skip
    data = json.loads(result.out)
    assert result.code == 0 and data["image_gears"] == []
    assert data["gears_note"].startswith("the original model does not run at image 32x32")
    assert "--dynamic_image_size" not in data["atc_command"]
    assert "--input_shape=x:1,3,16,16" in data["atc_command"]


def test_gear_usage_errors(cli: Any, tmp_path: Path) -> None:
    src = tmp_path / "net.onnx"
    onnx.save(_net(), src)
    base = ["fix", src, "-t", "ascend310", "-o", tmp_path / "o.onnx", "-s", "x:1x3x8x8"]
    both = cli(*base, "--batch-gears", "1,2", "--image-gears", "8x8,16x16")
    assert both.code == 2 and "cannot be combined" in both.err
    assert cli(*base, "--image-gears", "8x8").code == 2
    assert cli(*base, "--image-gears", "8by8,16x16").code == 2
    assert not (tmp_path / "o.onnx").exists()


def test_check_with_gears_checks_every_gear_shape(cli: Any, tmp_path: Path) -> None:
    src, out = tmp_path / "net.onnx", tmp_path / "net_b.onnx"
    onnx.save(_net(), src)
    fixed = cli("fix", src, "-t", "ascend310", "-o", out, "-s", "x:1x3x20x20",
                "--batch-gears", "1,4,8")  # fmt: skip
    assert fixed.code == 0, fixed.err
    plain = cli("check", out, "-t", "ascend310", "--json")  # the -1 batch alone is dynamic
    assert plain.code == 1
    assert [v["rule"] for v in json.loads(plain.out)["violations"]] == ["dynamic-shape"]
    geared = cli("check", out, "-t", "ascend310", "--batch-gears", "1,4,8", "--json")
    assert geared.code == 0, geared.out
    data = json.loads(geared.out)
    assert data["deployable"] and [g["gear"] for g in data["gears"]] == ["1", "4", "8"]
    assert data["gears"][2]["input_shapes"] == {"x": [8, 3, 20, 20]}
    text = cli("check", out, "-t", "ascend310", "--batch-gears", "1,4,8")
    assert "deployable on ascend310 at every gear" in text.out and "8 ok" in text.out
    # H and W are static in this model: image gears ask for sizes it does not have
    images = cli("check", out, "-t", "ascend310", "--image-gears", "20x20,32x32")
    assert images.code == 2 and "32" in images.err
    assert cli("check", out, "-t", "ascend310", "--batch-gears", "4").code == 2


def test_check_image_gears_says_when_a_dynamic_batch_was_checked_as_one(
    cli: Any, tmp_path: Path
) -> None:
    src = tmp_path / "net.onnx"
    onnx.save(_net(), src)  # x[N, 3, H, W]: the batch is dynamic too
    result = cli("check", src, "-t", "ascend310", "--image-gears", "16x16,32x32", "--json")
    assert result.code == 0, result.out
    data = json.loads(result.out)
    assert data["gears"][1]["input_shapes"] == {"x": [1, 3, 32, 32]}
    assert any("batch of 'x' is dynamic and was checked as 1" in n for n in data["notes"])
    text = cli("check", src, "-t", "ascend310", "--image-gears", "16x16,32x32")
    assert "note: the batch of 'x' is dynamic" in text.out
    given = cli("check", src, "-t", "ascend310", "--image-gears", "16x16,32x32",
                "--input-shape", "x:4x3x16x16", "--json")  # fmt: skip
    assert not any("dynamic" in n for n in json.loads(given.out)["notes"])
