"""Defects `pool-ceil-extra-window` (MaxPool) and `avgpool-ceil-extra-window` (AveragePool): a
pooling with ``ceil_mode = 1`` whose last window would start in the end padding (or past the
input) keeps that window, so its output has one row or column more than ONNX (and PyTorch)
say, with no error.

ONNX drops such a window. OpenVINO 2026.4 keeps it: over 117 MaxPool configurations (sizes
2-9, kernels 1-3, strides 1-3, padding 0-1) it was wrong on exactly the 25 where the window is
dropped, and right on the other 92. Common configurations (kernel 3, stride 2, padding 0 or
1; kernel 2, stride 2, padding 0) never drop a window; a kernel smaller than its stride, or
padding with a small kernel, can. Judged where the input's spatial size is static. ncnn has
both defects; OpenVINO's AveragePool is right (the node suite's
``test_averagepool_2d_ceil_last_window_starts_on_pad`` passes there and fails on ncnn).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import onnx_ir as ir

from nnport.check.defects.repro import Repro, checked_model

if TYPE_CHECKING:
    from nnport.check.context import Context


def dropped_axes(node: ir.Node, spatial: list[int]) -> list[int]:
    """Spatial axes (from 0) whose last ceil-mode window ONNX drops for starting in padding."""
    rank = len(spatial)
    kernel = node.attributes.get_ints("kernel_shape", [1] * rank)
    strides = node.attributes.get_ints("strides", [1] * rank)
    dilations = node.attributes.get_ints("dilations", [1] * rank)
    pads = node.attributes.get_ints("pads", [0] * (2 * rank))
    auto_pad = node.attributes.get("auto_pad")
    if auto_pad is not None and auto_pad.as_string() not in ("NOTSET", ""):
        return []  # SAME/VALID pads are computed, not given; no window starts in them
    found = []
    for axis in range(rank):
        begin, end = pads[axis], pads[axis + rank]
        span = (kernel[axis] - 1) * dilations[axis] + 1
        room = spatial[axis] + begin + end - span
        if room < 0:
            continue
        out = math.ceil(room / strides[axis]) + 1
        if (out - 1) * strides[axis] >= spatial[axis] + begin:
            found.append(axis)
    return found


def detect(ctx: Context, node: ir.Node, label: str) -> str | None:
    """A ceil-mode MaxPool whose last window starts in the padding on some axis."""
    return _detect(ctx, node, label, "MaxPool")


def detect_average(ctx: Context, node: ir.Node, label: str) -> str | None:
    """A ceil-mode AveragePool whose last window starts in the padding on some axis."""
    return _detect(ctx, node, label, "AveragePool")


def _detect(ctx: Context, node: ir.Node, label: str, op: str) -> str | None:
    if node.op_type != op or node.domain not in ("", "ai.onnx") or not node.inputs:
        return None
    if node.attributes.get_int("ceil_mode", 0) != 1:
        return None
    shape = ctx.facts(node.inputs[0]).shape
    if shape is None or len(shape) < 3 or not all(isinstance(d, int) for d in shape[2:]):
        return None
    axes = dropped_axes(node, [int(d) for d in shape[2:]])  # type: ignore[arg-type]
    if not axes:
        return None
    return (
        f"{op} '{label}' uses ceil_mode=1 and its last window on spatial axis {axes[0]} starts "
        f"in the padding, which ONNX drops; {ctx.profile.name} keeps it and returns one row or "
        f"column more, with no error"
    )


def repro() -> Repro:
    """MaxPool, kernel 1, stride 2, ceil_mode on a 4x4 image: ONNX gives 2x2 (a window at 4
    would start past the input), a runtime with the defect 3x3."""
    return _repro("MaxPool")


def repro_average() -> Repro:
    """The same with AveragePool."""
    return _repro("AveragePool")


def _repro(op: str) -> Repro:
    from onnx import TensorProto, helper

    node = helper.make_node(op, ["x"], ["y"], kernel_shape=[1, 1], strides=[2, 2], ceil_mode=1)
    graph = helper.make_graph(
        [node], "pool_ceil_extra_window",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 2, 2])],
    )  # fmt: skip
    return Repro(
        checked_model(graph, 13), {"x": np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)}
    )
