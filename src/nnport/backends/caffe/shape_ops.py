"""ONNX data-movement nodes → Caffe layers: Concat, Slice, Reshape, Flatten, Permute, Softmax,
and nearest upsampling by whole factors as a depthwise Deconvolution of ones."""

from __future__ import annotations

import math

import numpy as np
import onnx_ir as ir

from nnport.backends.caffe.net import CaffeNet, Unsupported, const, need_const, node_label
from nnport.backends.caffe.ops import _axis, _fail, _out


def concat(net: CaffeNet, node: ir.Node, opset: int) -> None:
    """Concat → Concat (axis made non-negative)."""
    rank = len(net.shape(node.outputs[0], node))
    layer = net.layer(_out(node), "Concat", [net.blob(v) for v in node.inputs], [_out(node)])
    layer.concat_param.axis = _axis(node.attributes.get_int("axis", 1) or 0, rank)


def split(net: CaffeNet, node: ir.Node, opset: int) -> None:
    """Split → Slice with the cumulative split points."""
    x = node.inputs[0]
    shape = net.shape(x, node)
    axis = _axis(node.attributes.get_int("axis", 0) or 0, len(shape))
    sizes = [net.shape(o, node)[axis] for o in node.outputs]
    if len(sizes) == 1:
        _copy(net, node, net.blob(x), _out(node))
        return
    layer = net.layer(
        _out(node), "Slice", [net.blob(x)], [_out(node, i) for i in range(len(sizes))]
    )
    layer.slice_param.axis = axis
    layer.slice_param.slice_point.extend(int(p) for p in np.cumsum(sizes)[:-1])


def slice_(net: CaffeNet, node: ir.Node, opset: int) -> None:
    """Slice with constant bounds and step 1 → one Caffe Slice per cut axis; the pieces cut
    away are left as unused tops named ``<output>/cut<k>``."""
    x = node.inputs[0]
    shape = net.shape(x, node)
    if opset < 10:
        starts = node.attributes.get_ints("starts", []) or []
        ends = node.attributes.get_ints("ends", []) or []
        axes = node.attributes.get_ints("axes", list(range(len(starts)))) or []
        steps: list[int] = [1] * len(starts)
    else:
        arrays = [node.inputs[i] if i < len(node.inputs) else None for i in range(1, 5)]
        starts = [int(v) for v in need_const(arrays[0], node, "starts").reshape(-1)]
        ends = [int(v) for v in need_const(arrays[1], node, "ends").reshape(-1)]
        axes = (
            [int(v) for v in need_const(arrays[2], node, "axes").reshape(-1)]
            if arrays[2] is not None else list(range(len(starts)))
        )  # fmt: skip
        steps = (
            [int(v) for v in need_const(arrays[3], node, "steps").reshape(-1)]
            if arrays[3] is not None else [1] * len(starts)
        )  # fmt: skip
    cuts = []
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        axis = _axis(axis, len(shape))
        if step != 1:
            raise _fail(node, f"step {step} on axis {axis}; Caffe's Slice takes contiguous parts")
        size = shape[axis]
        lo = min(max(start + size if start < 0 else start, 0), size)
        hi = min(max(end + size if end < 0 else end, 0), size)
        if hi <= lo:
            raise _fail(node, "an empty slice")
        if (lo, hi) != (0, size):
            cuts.append((axis, lo, hi, size))
    source = net.blob(x)
    if not cuts:
        _copy(net, node, source, _out(node))
        return
    for k, (axis, lo, hi, size) in enumerate(cuts):
        top = _out(node) if k == len(cuts) - 1 else f"{_out(node)}/part{k}"
        points = [p for p in (lo, hi) if 0 < p < size]
        tops = []
        if lo > 0:
            tops.append(f"{top}/cut{k}a")
        tops.append(top)
        if hi < size:
            tops.append(f"{top}/cut{k}b")
        layer = net.layer(top, "Slice", [source], tops)
        layer.slice_param.axis = axis
        layer.slice_param.slice_point.extend(points)
        source = top
    net.notes.append(f"Slice {_out(node)!r} leaves the cut-away parts as unused Caffe tops")


def reshape(net: CaffeNet, node: ir.Node, opset: int) -> None:
    """Reshape/Flatten/Squeeze/Unsqueeze → Flatten (Flatten at axis 1) or Reshape to the static
    output shape."""
    x = node.inputs[0]
    in_shape = net.shape(x, node)
    out_shape = net.shape(node.outputs[0], node)
    if (
        node.op_type == "Flatten"
        and (node.attributes.get_int("axis", 1) == 1)
        and len(in_shape) > 1
    ):
        net.layer(_out(node), "Flatten", [net.blob(x)], [_out(node)])
        return
    layer = net.layer(_out(node), "Reshape", [net.blob(x)], [_out(node)])
    layer.reshape_param.shape.dim.extend(int(d) for d in out_shape)


def transpose(net: CaffeNet, node: ir.Node, opset: int) -> None:
    """Transpose → Permute with the same order."""
    x = node.inputs[0]
    rank = len(net.shape(x, node))
    perm = node.attributes.get_ints("perm", None) or list(reversed(range(rank)))
    layer = net.layer(_out(node), "Permute", [net.blob(x)], [_out(node)])
    layer.permute_param.order.extend(int(p) for p in perm)


def softmax(net: CaffeNet, node: ir.Node, opset: int) -> None:
    """Softmax → Softmax over one axis (before opset 13 only where the trailing axes are 1)."""
    x = node.inputs[0]
    shape = net.shape(x, node)
    axis = _axis(node.attributes.get_int("axis", 1 if opset < 13 else -1) or 0, len(shape))
    if opset < 13 and math.prod(shape[axis + 1 :]) != 1:
        raise _fail(node, "a Softmax-11 over several flattened axes; Caffe's is over one axis")
    layer = net.layer(_out(node), "Softmax", [net.blob(x)], [_out(node)])
    layer.softmax_param.axis = axis


def identity(net: CaffeNet, node: ir.Node, opset: int) -> None:
    """Identity/Dropout (inference): no layer, the output names the input's blob."""
    if const(node.inputs[0]) is not None:
        return  # a constant passed on: its consumers read it as a parameter
    net.alias[_out(node)] = net.blob(node.inputs[0])


def _copy(net: CaffeNet, node: ir.Node, source: str, top: str) -> None:
    net.layer(top, "Power", [source], [top])  # y = (0 + 1 * x) ^ 1


# -- nearest upsampling ---------------------------------------------------------------------
def _nearest_index(out: int, size: int, scale: float, mode: str, rounding: str) -> np.ndarray:
    """ONNX Resize's source index for each output index (nearest), per the operator spec."""
    x = np.arange(out, dtype=np.float64)
    if mode == "half_pixel":
        src = (x + 0.5) / scale - 0.5
    elif mode == "pytorch_half_pixel":
        src = (x + 0.5) / scale - 0.5 if out > 1 else np.zeros_like(x)
    elif mode == "align_corners":
        src = x * (size - 1) / (out - 1) if out > 1 else np.zeros_like(x)
    elif mode == "asymmetric":
        src = x / scale
    elif mode == "tf_half_pixel_for_nn":
        src = (x + 0.5) / scale
    else:
        raise ValueError(mode)
    if rounding == "floor":
        idx = np.floor(src)
    elif rounding == "ceil":
        idx = np.ceil(src)
    elif rounding == "round_prefer_ceil":
        idx = np.floor(src + 0.5)
    else:  # round_prefer_floor
        idx = np.ceil(src - 0.5)
    return np.clip(idx, 0, size - 1).astype(np.int64)


def upsample(net: CaffeNet, node: ir.Node, opset: int) -> None:
    """Nearest Resize/Upsample by whole factors → Deconvolution, depthwise, kernel = stride =
    factor, weights 1, no bias: each pixel copied into a factor×factor block, exactly.

    A layer every Caffe runs (NNIE's own Upsample is documented as un-pooling with a mask)."""
    x = node.inputs[0]
    shape = net.shape(x, node)
    out_shape = net.shape(node.outputs[0], node)
    mode = node.attributes.get_string("mode", "nearest") or "nearest"
    if mode != "nearest" or len(shape) != 4 or shape[:2] != out_shape[:2]:
        raise _fail(node, f"{mode} resizing of {list(shape)} to {list(out_shape)}; only nearest "
                    "upsampling of H and W by whole factors maps to Caffe")  # fmt: skip
    if node.op_type == "Upsample" or opset < 11:
        transform, rounding = "asymmetric", "floor"
    else:
        transform = node.attributes.get_string("coordinate_transformation_mode", "half_pixel")
        rounding = node.attributes.get_string("nearest_mode", "round_prefer_floor")
    scales = _given_scales(node, opset)
    factors = []
    for i in (2, 3):
        size, out = shape[i], out_shape[i]
        if out % size:
            raise _fail(node, f"upsampling {size} to {out} is not by a whole factor")
        factor = out // size
        scale = scales[i] if scales is not None else float(factor)
        try:
            idx = _nearest_index(out, size, scale, transform or "half_pixel", rounding or "")
        except ValueError:
            raise _fail(node, f"coordinate_transformation_mode {transform!r}") from None
        if not np.array_equal(idx, np.arange(out) // factor):
            raise _fail(node, f"nearest mode {transform}/{rounding} does not copy whole blocks")
        factors.append(factor)
    channels = shape[1]
    weights = np.ones((channels, 1, factors[0], factors[1]), np.float32)
    top = _out(node)
    layer = net.layer(top, "Deconvolution", [net.blob(x)], [top], [weights])
    p = layer.convolution_param
    p.num_output, p.group, p.bias_term = channels, channels, False
    p.kernel_h, p.kernel_w = factors
    p.stride_h, p.stride_w = factors


def _given_scales(node: ir.Node, opset: int) -> list[float] | None:
    """The scales a Resize/Upsample names (None when it gives sizes instead)."""
    if node.op_type == "Upsample" and opset < 9:
        return [float(s) for s in node.attributes.get_floats("scales", []) or []] or None
    index = 1 if node.op_type == "Upsample" or opset < 11 else 2
    if index < len(node.inputs) and node.inputs[index] is not None:
        array = const(node.inputs[index])
        if array is None:
            raise Unsupported(f"node {node_label(node)}: its scales are computed at run time")
        if array.size:
            return [float(s) for s in array.reshape(-1)]
    return None
