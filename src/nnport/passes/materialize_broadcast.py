"""Mul/Add(x[N,C,H,W], s[N,C,1,1]) → the same op on Resize(s, nearest, ×H×W): equal shapes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx_ir as ir

from nnport.passes.base import Builder, Decline, NodeRewritePass, const_array, static_shape

# Hand-rolled: nothing upstream turns an implicit broadcast into an explicit one. Caffe-like
# targets (NNIE) only multiply equal shapes (Eltwise) or by per-channel constants (Scale); a
# squeeze-excitation gate s[N,C,1,1] is computed, so it is upsampled to the map's size instead.
MAX_CONSTANT_ELEMENTS = 1 << 20


class MaterializeBroadcastPass(NodeRewritePass):
    """Make one broadcasting element-wise node see equal shapes (resolves broadcast-unsupported)."""

    fix_id = "materialize-broadcast"
    resolves = ("broadcast-unsupported",)
    op_type = "*"
    op_types = ("Mul", "Add", "Sub", "Div", "Max", "Min", "Sum")

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
        if len(out) != 4 or padded[:2] != out[:2] or padded[2:] != (1, 1) or len(shape) != 4:
            raise Decline(f"computed {list(shape)} broadcast to {list(out)} is not a 1x1 map")
        if not (self.has_op("Resize") or self.has_op("Upsample")):
            raise Decline("the target has no Resize to upsample the 1x1 map")
        scales = np.array([1.0, 1.0, float(out[2]), float(out[3])], np.float32)
        if b.opset < 11:
            return b.op("Upsample", [value, b.const(scales, hint="scales")], mode="nearest")
        roi = b.const(np.zeros(0, np.float32), hint="roi")
        return b.op(
            "Resize", [value, roi, b.const(scales, hint="scales")], mode="nearest",
            coordinate_transformation_mode="asymmetric", nearest_mode="floor",
        )  # fmt: skip
