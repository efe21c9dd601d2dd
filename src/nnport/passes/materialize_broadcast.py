"""Mul/Add(x, s) with s broadcast → the same op on s made full size: a [N,C,1,1] gate by
nearest Resize (×H×W), any other computed s by Concats of copies along its size-1 axes (doubling,
so 94 copies take 7 Concats), a constant by a full constant."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import numpy as np
import onnx_ir as ir

from nnport.passes.base import Builder, Decline, NodeRewritePass, const_array, static_shape

# Hand-rolled: nothing upstream turns an implicit broadcast into an explicit one. Caffe-like
# targets (NNIE) only multiply equal shapes (Eltwise) or by per-channel constants (Scale); a
# squeeze-excitation gate s[N,C,1,1] is computed, so it is upsampled to the map's size instead,
# and a computed vector tiled along one axis (tf.tile of [1,1,1,128] to [1,1,94,128], whose Tile
# rewrite-tile removes) is copied along that axis with Concat, a layer every Caffe has.
MAX_CONSTANT_ELEMENTS = 1 << 20
MAX_COPIES = 4096


class MaterializeBroadcastPass(NodeRewritePass):
    """Make one broadcasting element-wise node see equal shapes (resolves broadcast-unsupported)."""

    fix_id = "materialize-broadcast"
    resolves = ("broadcast-unsupported",)
    op_type = "*"
    op_types = ("Mul", "Add", "Sub", "Div", "Max", "Min", "Sum")

    def __init__(
        self,
        *,
        max_copies: int = MAX_COPIES,
        nodes: Collection[str] | None = None,
        has_op: Callable[[str], bool] | None = None,
    ) -> None:
        super().__init__(nodes=nodes, has_op=has_op)
        self.max_copies = max_copies

    def rewrite(self, node: ir.Node, b: Builder) -> Sequence[ir.Value]:
        out_shape = static_shape(node.outputs[0])
        if out_shape is None:
            raise Decline("the output shape is not static")
        inputs: list[ir.Value] = []
        changed = False
        for value in node.inputs:
            assert value is not None
            shape = static_shape(value)
            if shape is None:
                raise Decline(f"input {value.name!r} has no static shape")
            if shape == out_shape:
                inputs.append(value)
                continue
            data = const_array(value)
            if data is not None:
                if int(np.prod(out_shape)) > MAX_CONSTANT_ELEMENTS:
                    raise Decline("the broadcast constant would be too large")
                full = np.ascontiguousarray(np.broadcast_to(data, out_shape))
                inputs.append(b.const(full, full.dtype, hint="broadcast"))
            else:
                inputs.append(self._upsample(value, shape, out_shape, b))
            changed = True
        if not changed:
            raise Decline("its inputs already have equal shapes")
        return [b.op(node.op_type, inputs)]

    def _upsample(
        self, value: ir.Value, shape: tuple[int, ...], out: tuple[int, ...], b: Builder
    ) -> ir.Value:
        padded = (1,) * (len(out) - len(shape)) + shape
        if any(d not in (1, o) for d, o in zip(padded, out, strict=True)):
            raise Decline(f"computed {list(shape)} does not broadcast to {list(out)}")
        gate = len(out) == 4 and len(shape) == 4 and padded[:2] == out[:2] and padded[2:] == (1, 1)
        if gate and (self.has_op("Resize") or self.has_op("Upsample")):
            return self._resize(value, out, b)
        return self._copies(value, shape, padded, out, b)

    def _resize(self, value: ir.Value, out: tuple[int, ...], b: Builder) -> ir.Value:
        scales = np.array([1.0, 1.0, float(out[2]), float(out[3])], np.float32)
        if b.opset < 11:
            return b.op("Upsample", [value, b.const(scales, hint="scales")], mode="nearest")
        roi = b.const(np.zeros(0, np.float32), hint="roi")
        return b.op(
            "Resize", [value, roi, b.const(scales, hint="scales")], mode="nearest",
            coordinate_transformation_mode="asymmetric", nearest_mode="floor",
        )  # fmt: skip

    def _copies(
        self,
        value: ir.Value,
        shape: tuple[int, ...],
        padded: tuple[int, ...],
        out: tuple[int, ...],
        b: Builder,
    ) -> ir.Value:
        """Concat copies of ``value`` along each axis it broadcasts on (a Reshape first when
        its rank is lower): log2(n) doubling Concats, then one Concat of the powers needed."""
        copies = int(np.prod([o for d, o in zip(padded, out, strict=True) if d != o]))
        if copies > self.max_copies:
            raise Decline(
                f"computed {list(shape)} broadcast to {list(out)} needs {copies} copies "
                f"(more than {self.max_copies})"
            )
        if not self.has_op("Concat"):
            raise Decline("the target has no Concat to copy the operand with")
        result = value
        if len(shape) != len(out):
            if not self.has_op("Reshape"):
                raise Decline(f"computed {list(shape)} has a lower rank than {list(out)}")
            result = b.op("Reshape", [value, b.const(np.array(padded, np.int64), hint="shape")])
        for axis, (d, o) in enumerate(zip(padded, out, strict=True)):
            if d != o:
                result = _concat_copies(b, result, axis, o)
        return result


def _concat_copies(b: Builder, value: ir.Value, axis: int, count: int) -> ir.Value:
    """``count`` copies of ``value`` along ``axis``: Concat(v, v), Concat(vv, vv), ... then one
    Concat of the powers of two that sum to ``count``."""
    pieces: list[ir.Value] = []
    power, left = value, count
    while left:
        if left & 1:
            pieces.append(power)
        left >>= 1
        if left:
            power = b.op("Concat", [power, power], axis=axis)
    return pieces[0] if len(pieces) == 1 else b.op("Concat", pieces, axis=axis)
