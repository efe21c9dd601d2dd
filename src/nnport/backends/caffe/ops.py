"""ONNX node → Caffe layers, one emitter per op (the NNIE mapper's layer set, by name)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import onnx_ir as ir

from nnport.backends.caffe import nnport_caffe_pb2 as pb
from nnport.backends.caffe.net import CaffeNet, Unsupported, const, need_const, node_label

Emitter = Callable[[CaffeNet, ir.Node, int], None]


def _out(node: ir.Node, index: int = 0) -> str:
    return node.outputs[index].name or f"{node.name}:{index}"


def _fail(node: ir.Node, why: str, hint: str = "") -> Unsupported:
    return Unsupported(f"node {node_label(node)}: {why}", hint=hint)


def _axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


# -- convolution and pooling ----------------------------------------------------------------
def _window(
    node: ir.Node, spatial: tuple[int, ...], kernel: tuple[int, ...]
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """(strides, symmetric pads, dilations) of a 2-D window; asymmetric padding is refused."""
    if len(kernel) != 2 or len(spatial) != 2:
        raise _fail(node, "only 2-D windows map to Caffe layers")
    attrs = node.attributes
    strides = tuple(attrs.get_ints("strides", [1, 1]) or [1, 1])
    dil = tuple(attrs.get_ints("dilations", [1, 1]) or [1, 1])
    auto_pad = attrs.get_string("auto_pad", "NOTSET") or "NOTSET"
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for size, k, s, d in zip(spatial, kernel, strides, dil, strict=True):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            pads.append((total // 2, total - total // 2))
        begin, end = [p[0] for p in pads], [p[1] for p in pads]
    elif auto_pad == "VALID":
        begin, end = [0, 0], [0, 0]
    else:
        p = list(attrs.get_ints("pads", [0, 0, 0, 0]) or [0, 0, 0, 0])
        begin, end = p[:2], p[2:]
    if begin != end:
        raise _fail(
            node, f"asymmetric padding {begin}+{end}; Caffe pads both sides alike",
            hint="pad with a separate symmetric amount or change the model's padding",
        )  # fmt: skip
    return (
        (int(strides[0]), int(strides[1])),
        (int(begin[0]), int(begin[1])),
        (int(dil[0]), int(dil[1])),
    )


def _conv_param(
    p: pb.ConvolutionParameter,
    out: int,
    kernel: tuple[int, ...],
    window: tuple[tuple[int, int], tuple[int, int], tuple[int, int]],
    group: int,
    bias: bool,
) -> None:
    strides, pads, dil = window
    p.num_output, p.bias_term, p.group = out, bias, group
    p.kernel_h, p.kernel_w = int(kernel[0]), int(kernel[1])
    p.stride_h, p.stride_w = strides
    p.pad_h, p.pad_w = pads
    if dil != (1, 1):
        p.dilation.extend(dil if dil[0] != dil[1] else dil[:1])


def _bias(node: ir.Node) -> np.ndarray | None:
    """A Conv/ConvTranspose's optional constant bias (input 2)."""
    if len(node.inputs) > 2 and node.inputs[2]:
        return need_const(node.inputs[2], node, "bias")
    return None


def conv(net: CaffeNet, node: ir.Node, opset: int) -> None:
    """Conv → Convolution (weights O×I/g×kh×kw, bias O)."""
    x = node.inputs[0]
    shape = net.shape(x, node)
    w = need_const(node.inputs[1], node, "weight")
    b = _bias(node)
    if len(shape) != 4:
        raise _fail(node, f"a {len(shape)}-D convolution; Caffe's Convolution here is 2-D")
    window = _window(node, shape[2:], tuple(w.shape[2:]))
    group = node.attributes.get_int("group", 1) or 1
    blobs = [w] if b is None else [w, b]
    layer = net.layer(_out(node), "Convolution", [net.blob(x)], [_out(node)], blobs)
    _conv_param(layer.convolution_param, w.shape[0], w.shape[2:], window, group, b is not None)


def deconv(net: CaffeNet, node: ir.Node, opset: int) -> None:
    """ConvTranspose → Deconvolution (weights I×O/g×kh×kw, as ONNX stores them)."""
    x = node.inputs[0]
    shape = net.shape(x, node)
    out_shape = net.shape(node.outputs[0], node)
    w = need_const(node.inputs[1], node, "weight")
    b = _bias(node)
    if len(shape) != 4:
        raise _fail(node, f"a {len(shape)}-D transposed convolution; Caffe's is 2-D")
    if any(node.attributes.get_ints("output_padding", [0, 0]) or [0]):
        raise _fail(node, "output_padding has no Caffe Deconvolution parameter")
    strides, pads, dil = _window(node, shape[2:], tuple(w.shape[2:]))
    group = node.attributes.get_int("group", 1) or 1
    for i in range(2):
        size = strides[i] * (shape[2 + i] - 1) + (w.shape[2 + i] - 1) * dil[i] + 1 - 2 * pads[i]
        if size != out_shape[2 + i]:
            raise _fail(node, f"output size {out_shape[2:]} is not what Caffe computes")
    blobs = [w] if b is None else [w, b]
    layer = net.layer(_out(node), "Deconvolution", [net.blob(x)], [_out(node)], blobs)
    window = (strides, pads, dil)
    _conv_param(
        layer.convolution_param, w.shape[1] * group, w.shape[2:], window, group, b is not None
    )


def _caffe_pool_size(size: int, k: int, s: int, p: int, ceil: bool) -> int:
    if not ceil:
        return (size + 2 * p - k) // s + 1
    out = -(-(size + 2 * p - k) // s) + 1
    if p > 0 and (out - 1) * s >= size + p:
        out -= 1
    return out


def pool(net: CaffeNet, node: ir.Node, opset: int) -> None:
    """MaxPool/AveragePool → Pooling (ceil_mode: false where ONNX rounds down and Caffe not)."""
    x = node.inputs[0]
    shape = net.shape(x, node)
    out_shape = net.shape(node.outputs[0], node)
    if len(node.outputs) > 1 and node.outputs[1] is not None and node.outputs[1].uses():
        raise _fail(node, "MaxPool's indices output has no Caffe layer")
    kernel = tuple(node.attributes.get_ints("kernel_shape", []) or [])
    strides, pads, dil = _window(node, shape[2:], kernel)
    if dil != (1, 1):
        raise _fail(node, "dilated pooling has no Caffe Pooling parameter")
    is_avg = node.op_type == "AveragePool"
    if is_avg and any(pads) and not node.attributes.get_int("count_include_pad", 0):
        raise _fail(
            node, "average pooling over padding that excludes the padding from the count; "
            "Caffe counts it",
        )  # fmt: skip
    ceil = None
    for mode in (True, False):
        sizes = [
            _caffe_pool_size(shape[2 + i], kernel[i], strides[i], pads[i], mode) for i in (0, 1)
        ]
        if tuple(sizes) == tuple(out_shape[2:]):
            ceil = mode
            break
    if ceil is None:
        raise _fail(node, f"output size {out_shape[2:]} is neither Caffe's ceil nor floor size")
    layer = net.layer(_out(node), "Pooling", [net.blob(x)], [_out(node)])
    p = layer.pooling_param
    p.pool = pb.PoolingParameter.AVE if is_avg else pb.PoolingParameter.MAX
    p.kernel_h, p.kernel_w = int(kernel[0]), int(kernel[1])
    p.stride_h, p.stride_w = strides
    p.pad_h, p.pad_w = pads
    if not ceil:
        p.ceil_mode = False
        net.notes.append(
            f"Pooling {_out(node)!r} rounds its output size down (ceil_mode: false), as ONNX did"
        )


def global_pool(net: CaffeNet, node: ir.Node, opset: int) -> None:
    """GlobalAveragePool/GlobalMaxPool → Pooling with global_pooling."""
    x = node.inputs[0]
    if len(net.shape(x, node)) != 4:
        raise _fail(node, "global pooling of a tensor that is not 4-D")
    layer = net.layer(_out(node), "Pooling", [net.blob(x)], [_out(node)])
    layer.pooling_param.global_pooling = True
    avg = node.op_type == "GlobalAveragePool"
    layer.pooling_param.pool = pb.PoolingParameter.AVE if avg else pb.PoolingParameter.MAX


# -- normalization and fully connected ------------------------------------------------------
def batchnorm(net: CaffeNet, node: ir.Node, opset: int) -> None:
    """BatchNormalization → BatchNorm (mean, var, factor 1) + Scale (gamma, beta)."""
    x = node.inputs[0]
    gamma, beta, mean, var = (need_const(v, node, n) for v, n in zip(
        node.inputs[1:5], ("scale", "bias", "mean", "variance"), strict=True))  # fmt: skip
    top = _out(node)
    eps = node.attributes.get_float("epsilon", 1e-5)
    bn = net.layer(f"{top}/bn", "BatchNorm", [net.blob(x)], [f"{top}/bn"],
                   [mean, var, np.ones(1, np.float32)])  # fmt: skip
    bn.batch_norm_param.use_global_stats = True
    bn.batch_norm_param.eps = float(eps if eps is not None else 1e-5)
    scale = net.layer(top, "Scale", [f"{top}/bn"], [top], [gamma, beta])
    scale.scale_param.bias_term = True


def gemm(net: CaffeNet, node: ir.Node, opset: int) -> None:
    """Gemm(A, B, C) with constant B, C → InnerProduct (alpha, beta and transB folded in)."""
    a = node.inputs[0]
    attrs = node.attributes
    if attrs.get_int("transA", 0):
        raise _fail(node, "transA=1 has no InnerProduct parameter")
    b = need_const(node.inputs[1], node, "weight B").astype(np.float32)
    w = b if attrs.get_int("transB", 0) else b.T
    w = w * np.float32(attrs.get_float("alpha", 1.0) or 1.0)
    bias = None
    if len(node.inputs) > 2 and node.inputs[2] is not None:
        c = need_const(node.inputs[2], node, "bias C") * np.float32(attrs.get_float("beta", 1.0))
        if c.ndim == 2 and c.shape[0] != 1:
            raise _fail(node, f"bias C of shape {list(c.shape)} varies by row")
        bias = np.broadcast_to(c.reshape(-1), (w.shape[0],)).astype(np.float32)
    _inner_product(net, node, a, w, bias, axis=1)


def matmul(net: CaffeNet, node: ir.Node, opset: int) -> None:
    """MatMul(A, B) with constant 2-D B → InnerProduct over A's last axis."""
    a = node.inputs[0]
    b = need_const(node.inputs[1], node, "weight B")
    if b.ndim != 2:
        raise _fail(node, f"a {b.ndim}-D constant B; InnerProduct takes a matrix")
    _inner_product(net, node, a, b.T, None, axis=len(net.shape(a, node)) - 1)


def _inner_product(
    net: CaffeNet, node: ir.Node, a: ir.Value | None, w: np.ndarray, bias: np.ndarray | None,
    axis: int,
) -> None:  # fmt: skip
    blobs = [w] if bias is None else [w, bias]
    layer = net.layer(_out(node), "InnerProduct", [net.blob(a)], [_out(node)], blobs)
    layer.inner_product_param.num_output = int(w.shape[0])
    layer.inner_product_param.bias_term = bias is not None
    if axis != 1:
        layer.inner_product_param.axis = axis


# -- element-wise ---------------------------------------------------------------------------
_ELTWISE = {
    "Add": pb.EltwiseParameter.SUM, "Sum": pb.EltwiseParameter.SUM,
    "Sub": pb.EltwiseParameter.SUM, "Mul": pb.EltwiseParameter.PROD,
    "Max": pb.EltwiseParameter.MAX,
}  # fmt: skip


def eltwise(net: CaffeNet, node: ir.Node, opset: int) -> None:
    """Add/Sub/Mul/Div/Max: Eltwise on equal shapes; Scale/Power by a constant."""
    out_shape = net.shape(node.outputs[0], node)
    inputs = list(node.inputs)
    consts = [const(v) for v in inputs]
    computed = [v for v, c in zip(inputs, consts, strict=True) if c is None]
    if len(computed) == len(inputs):
        if node.op_type not in _ELTWISE:
            raise _fail(node, f"{node.op_type} of two computed tensors has no Caffe layer")
        for v in inputs:
            if net.shape(v, node) != out_shape:
                raise _fail(
                    node, f"broadcasts {list(net.shape(v, node))} to {list(out_shape)}; "
                    "Caffe's Eltwise needs equal shapes",
                    hint="run `nnport fix -t nnie` (materialize-broadcast)",
                )  # fmt: skip
        layer = net.layer(_out(node), "Eltwise", [net.blob(v) for v in inputs], [_out(node)])
        layer.eltwise_param.operation = _ELTWISE[node.op_type]
        if node.op_type == "Sub":
            layer.eltwise_param.coeff.extend([1.0, -1.0])
        return
    if len(inputs) != 2 or len(computed) != 1:
        raise _fail(node, "an element-wise op of constants only; fold it first")
    x = computed[0]
    if net.shape(x, node) != out_shape:
        raise _fail(node, f"the constant broadcasts the tensor to {list(out_shape)}")
    c = next(c for c in consts if c is not None).astype(np.float32)
    first = consts[0] is None  # x op c (else c op x)
    op = node.op_type
    if op == "Add":
        affine(net, node, x, None, c)
    elif op == "Sub":
        affine(net, node, x, None, -c) if first else affine(net, node, x, -np.ones_like(c), c)
    elif op == "Mul":
        affine(net, node, x, c, None)
    elif op == "Div" and first:
        affine(net, node, x, np.float32(1.0) / c, None)
    elif op == "Max" and first and c.size == 1 and float(c.reshape(-1)[0]) == 0.0:
        net.layer(_out(node), "ReLU", [net.blob(x)], [_out(node)])
    else:
        raise _fail(node, f"{op} with a constant {'second' if first else 'first'} operand")


def affine(
    net: CaffeNet, node: ir.Node, x: ir.Value | None, scale: np.ndarray | None,
    bias: np.ndarray | None,
) -> None:  # fmt: skip
    """x * scale + bias for constants: Power when both are scalars, else a Scale over the axes
    the constants vary along (per-channel at axis 1 is the usual one)."""
    out_shape = net.shape(node.outputs[0], node)
    rank = len(out_shape)
    parts = [p for p in (scale, bias) if p is not None]
    if all(p.size == 1 for p in parts):
        layer = net.layer(_out(node), "Power", [net.blob(x)], [_out(node)])
        if scale is not None:
            layer.power_param.scale = float(scale.reshape(-1)[0])
        if bias is not None:
            layer.power_param.shift = float(bias.reshape(-1)[0])
        return
    aligned = [p.reshape((1,) * (rank - p.ndim) + p.shape) for p in parts]
    varying = sorted({i for p in aligned for i, d in enumerate(p.shape) if d != 1})
    lo, hi = varying[0], varying[-1]
    index = tuple(slice(None) if lo <= i <= hi else 0 for i in range(rank))

    def blob(p: np.ndarray | None, fill: float) -> np.ndarray:
        if p is None:
            return np.full(out_shape[lo : hi + 1], fill, np.float32)
        full = p.reshape((1,) * (rank - p.ndim) + p.shape)
        return np.ascontiguousarray(np.broadcast_to(full, out_shape)[index], np.float32)

    blobs = [blob(scale, 1.0)] + ([blob(bias, 0.0)] if bias is not None else [])
    layer = net.layer(_out(node), "Scale", [net.blob(x)], [_out(node)], blobs)
    layer.scale_param.axis = lo
    layer.scale_param.num_axes = hi - lo + 1
    layer.scale_param.bias_term = bias is not None


# -- activations ----------------------------------------------------------------------------
_ACTIVATIONS = {"Relu": "ReLU", "Sigmoid": "Sigmoid", "Tanh": "TanH", "Abs": "AbsVal"}


def activation(net: CaffeNet, node: ir.Node, opset: int) -> None:
    """Relu/LeakyRelu/Sigmoid/Tanh/Abs → ReLU/Sigmoid/TanH/AbsVal."""
    x = node.inputs[0]
    if node.op_type == "LeakyRelu":
        layer = net.layer(_out(node), "ReLU", [net.blob(x)], [_out(node)])
        layer.relu_param.negative_slope = float(node.attributes.get_float("alpha", 0.01) or 0.0)
        return
    net.layer(_out(node), _ACTIVATIONS[node.op_type], [net.blob(x)], [_out(node)])


def prelu(net: CaffeNet, node: ir.Node, opset: int) -> None:
    """PRelu with a constant per-channel (or single) slope → PReLU."""
    x = node.inputs[0]
    shape = net.shape(x, node)
    slope = need_const(node.inputs[1], node, "slope").astype(np.float32)
    channels = shape[1] if len(shape) > 1 else 1
    aligned = slope.reshape((1,) * (len(shape) - slope.ndim) + slope.shape)
    shared = slope.size == 1
    if not shared and not (
        slope.size == channels and aligned.shape[1] == channels and len(shape) > 1
    ):
        raise _fail(node, f"slope of shape {list(slope.shape)} is not per-channel")
    blob = slope.reshape(1) if shared else slope.reshape(channels)
    layer = net.layer(_out(node), "PReLU", [net.blob(x)], [_out(node)], [blob])
    if shared:
        layer.prelu_param.channel_shared = True


def clip(net: CaffeNet, node: ir.Node, opset: int) -> None:
    """Clip(x, 0, +inf) → ReLU; other bounds have no NNIE layer."""
    low = node.attributes.get_float("min", None) if opset < 11 else None
    high = node.attributes.get_float("max", None) if opset < 11 else None
    if opset >= 11:
        bounds = [*node.inputs[1:3], None, None][:2]
        lo, hi = (const(v) if v is not None else None for v in bounds)
        low = None if lo is None else float(lo.reshape(-1)[0])
        high = None if hi is None else float(hi.reshape(-1)[0])
    if low == 0.0 and (high is None or math.isinf(high)):
        net.layer(_out(node), "ReLU", [net.blob(node.inputs[0])], [_out(node)])
        return
    raise _fail(node, f"Clip to [{low}, {high}] has no NNIE layer")
