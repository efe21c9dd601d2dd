"""Defect pool-ceil-extra-window: a ceil-mode MaxPool whose last window starts in the padding
keeps that window on OpenVINO and ncnn (one row or column more than ONNX), with no error.
check flags exactly those configurations, and the real runtimes agree on each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from nnport.backends import make_runner
from nnport.check import check
from nnport.model.io import load
from nnport.probe.reproduce import reproduces
from nnport.targets import load_target

# (size, kernel, stride, pad) -> whether ONNX drops the last window
CONFIGS = {
    (4, 1, 2, 0): True,
    (5, 2, 2, 1): True,
    (9, 1, 3, 0): True,
    (7, 1, 3, 0): False,  # kernel below stride, but the last window starts inside
    (7, 3, 2, 1): False,  # the common downsampling: never drops a window
    (8, 2, 2, 0): False,
}


def _pool(tmp_path: Path, size: int, kernel: int, stride: int, pad: int) -> Path:
    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[kernel, kernel],
                            strides=[stride, stride], pads=[pad] * 4, ceil_mode=1)  # fmt: skip
    graph = helper.make_graph(
        [node], "pool", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", "c", "h", "w"])],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / f"pool_{size}_{kernel}_{stride}_{pad}.onnx"
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("backend", ["openvino", "ncnn"])
def test_the_defect_reproduces_and_the_profile_lists_it(backend: str) -> None:
    pytest.importorskip(backend)
    assert reproduces("pool-ceil-extra-window", backend)
    assert "pool-ceil-extra-window" in load_target(backend).graph.defects
    assert not reproduces("pool-ceil-extra-window", "onnxruntime")


@pytest.mark.parametrize("config", list(CONFIGS), ids=[str(c) for c in CONFIGS])
def test_check_agrees_with_openvino(tmp_path: Path, config: tuple[int, int, int, int]) -> None:
    pytest.importorskip("openvino")
    path = _pool(tmp_path, *config)
    x = {"x": np.random.default_rng(0).random((1, 2, config[0], config[0]), dtype=np.float32)}
    with make_runner("onnxruntime", path) as ref, make_runner("openvino", path) as ov:
        expected, got = ref.infer(x)["y"], ov.infer(x)["y"]
    wrong = expected.shape != got.shape or not np.allclose(expected, got)
    assert wrong == CONFIGS[config]  # the measurement, rerun
    rules = [v.rule for v in check(load(path), "openvino").violations]
    assert ("runtime-defect" in rules) == wrong
    assert check(load(path), "onnxruntime").deployable
