"""Defect `resize-nearest-index`: a nearest Resize whose ONNX coordinates pick other source
pixels than ncnn's nearest interpolation (ncnn).

pnnx maps every nearest Resize to ncnn's Interp, which picks source index
``min(floor(y * in / out), in - 1)`` when pnnx writes output sizes (ONNX ``sizes``) and
``min(floor(y / scale), in - 1)`` when it writes scales (ONNX ``scales``), in float32,
whatever the coordinate transformation and rounding mode say. Where ONNX picks other indices
the output is wrong, with no error. The check computes both index maps for the node's static
sizes: hand-rolled, since neither onnx nor onnx-ir says which pixels a Resize picks.

Measured on [1, 3, n, n] after a Conv (sizes): the default half_pixel with round_prefer_floor
matches for 8 -> 4, 2 -> 1 and every integer upsampling, and differs for 9 -> 3, 8 -> 6, 8 -> 5
and 4 -> 1; asymmetric matches for 8 -> 4, 9 -> 3, 4 -> 1 and 2 -> 1 and differs for 8 -> 6
and 8 -> 5, exactly where the two maps differ; the node suite's nearest downsampling cases
(scales 0.6, sizes [1, 1, 1, 3]) differ too.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import onnx_ir as ir

from nnport.check.defects.repro import Repro, checked_model
from nnport.model.graphs import constant_tensor

if TYPE_CHECKING:
    from nnport.check.context import Context

_F = np.float32


def onnx_index(y: int, n_in: int, n_out: int, scale: float, ctm: str, rounding: str) -> int | None:
    """The source index ONNX's nearest Resize picks for output index ``y`` (None for a
    coordinate transformation this does not model)."""
    s = _F(scale)
    if ctm == "half_pixel":
        x = (_F(y) + _F(0.5)) / s - _F(0.5)
    elif ctm == "pytorch_half_pixel":
        x = (_F(y) + _F(0.5)) / s - _F(0.5) if n_out > 1 else _F(0)
    elif ctm == "asymmetric":
        x = _F(y) / s
    elif ctm == "tf_half_pixel_for_nn":
        x = (_F(y) + _F(0.5)) / s
    elif ctm == "align_corners":
        x = _F(0) if n_out == 1 else _F(y) * _F(n_in - 1) / _F(n_out - 1)
    else:
        return None
    low = math.floor(x)
    half = float(x) - low == 0.5
    picked = {
        "round_prefer_floor": low if half else round(float(x)),
        "round_prefer_ceil": low + 1 if half else round(float(x)),
        "floor": low,
        "ceil": math.ceil(x),
    }.get(rounding)
    return None if picked is None else min(max(int(picked), 0), n_in - 1)


def ncnn_index(y: int, n_in: int, n_out: int, scale: float, from_sizes: bool) -> int:
    """The source index ncnn's nearest Interp picks for output index ``y``."""
    step = _F(n_in) / _F(n_out) if from_sizes else _F(1) / _F(scale)
    return min(int(_F(y) * step), n_in - 1)


def _axes(ctx: Context, node: ir.Node) -> list[tuple[int, int, float, bool]] | None:
    """(input length, output length, ONNX scale, from sizes) of every resized axis, when the
    input shape and the scales or sizes are static constants."""
    facts = ctx.facts(node.inputs[0]).shape if node.inputs and node.inputs[0] else None
    if facts is None or not all(isinstance(d, int) for d in facts):
        return None
    shape = [int(d) for d in facts]  # type: ignore[arg-type]  # all int, checked above
    sizes = constant_tensor(node.inputs[3]) if len(node.inputs) > 3 and node.inputs[3] else None
    scales = constant_tensor(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
    if node.attributes.get_ints("axes") is not None:
        return None  # a subset of axes (Resize-18): not modeled
    found = []
    if sizes is not None and sizes.size == len(shape):
        for n_in, n_out in zip(shape, sizes.numpy().tolist(), strict=True):
            if n_in != n_out:
                found.append((n_in, int(n_out), int(n_out) / n_in, True))
    elif scales is not None and scales.size == len(shape):
        for n_in, scale in zip(shape, scales.numpy().tolist(), strict=True):
            if scale != 1.0:
                found.append((n_in, math.floor(n_in * scale), float(scale), False))
    else:
        return None
    return found


def detect(ctx: Context, node: ir.Node, label: str) -> str | None:
    """A nearest Resize whose ONNX index map differs from ncnn's on some resized axis."""
    if node.op_type != "Resize" or node.domain not in ("", "ai.onnx"):
        return None
    if node.attributes.get_string("mode", "nearest") != "nearest":
        return None
    axes = _axes(ctx, node)
    if not axes:
        return None
    ctm = node.attributes.get_string("coordinate_transformation_mode", "half_pixel")
    rounding = node.attributes.get_string("nearest_mode", "round_prefer_floor")
    for n_in, n_out, scale, from_sizes in axes:
        for y in range(n_out):
            picked = onnx_index(y, n_in, n_out, scale, ctm, rounding)
            if picked is None:
                return None
            ours = ncnn_index(y, n_in, n_out, scale, from_sizes)
            if picked != ours:
                return (
                    f"Resize '{label}' ({n_in} -> {n_out}, {ctm}, {rounding}) takes source "
                    f"index {picked} for output index {y}; {ctx.profile.name}'s nearest "
                    f"interpolation takes {ours} (it rounds y * {n_in}/{n_out} down), so the "
                    f"values differ"
                )
    return None


def repro() -> Repro:
    """A nearest Resize of [1, 3, 9, 9] to sizes [1, 3, 3, 3] (ONNX picks rows 1, 4, 7;
    ncnn 0, 3, 6)."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="nearest")],
        "resize_nearest_index",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 9, 9])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 3, 3])],
        [numpy_helper.from_array(np.array([1, 3, 3, 3], np.int64), "sizes")],
    )  # fmt: skip
    feeds = {"x": np.arange(243, dtype=np.float32).reshape(1, 3, 9, 9)}
    return Repro(checked_model(graph, 13), feeds)
