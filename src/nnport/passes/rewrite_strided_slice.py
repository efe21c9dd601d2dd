"""Slice(x, s, e, axis, step k) → Slice(step 1) → Reshape [.., n, k·inner] → Slice [o·inner, +inner] → Reshape."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx_ir as ir

from nnport.passes.base import Builder, Decline, NodeRewritePass, const_array, static_shape

# Hand-rolled: a strided Slice (Swin's patch merging x[:, 0::2], LeViT's subsampling) has no
# ncnn layer; taking every k-th element along an axis is the same as grouping that axis by k
# (a Reshape that merges the group into the next axis, so the rank never grows) and cutting one
# contiguous piece of each group with a step-1 Slice. Exact: it only moves elements.


def _axis_plan(dim: int, start: int, end: int, step: int) -> tuple[int, int, int, int] | None:
    """(crop start c, count n, offset o in each group, zeros to pad at the end) for a positive
    step, or None when the slice is empty. Without padding when the groups fit in the axis."""
    start = min(max(start + dim if start < 0 else start, 0), dim)
    end = min(max(end + dim if end < 0 else end, 0), dim)
    n = max(0, -(-(end - start) // step))
    if n == 0:
        return None
    crop = min(start, dim - step * n)
    if crop >= 0 and start - crop < step:
        return crop, n, start - crop, 0
    return start, n, 0, start + step * n - dim  # the last group is short: pad it


class RewriteStridedSlicePass(NodeRewritePass):
    """Slice with steps other than 1 as step-1 Slices and Reshapes (input-value-unsupported)."""

    fix_id = "rewrite-strided-slice"
    resolves = ("input-value-unsupported",)
    op_type = "Slice"

    def rewrite(self, node: ir.Node, b: Builder) -> Sequence[ir.Value]:
        if len(node.inputs) < 5 or node.inputs[4] is None:
            raise Decline("no steps input: nothing to rewrite")
        x = node.inputs[0]
        shape = static_shape(x)
        if x is None or shape is None:
            raise Decline("the input shape is not static (freeze the input shapes first)")
        starts, ends, axes_in, steps = (const_array(v) for v in node.inputs[1:5])
        if starts is None or ends is None or steps is None:
            raise Decline("starts, ends or steps are computed, not constants")
        rank = len(shape)
        axes = list(range(len(starts))) if axes_in is None else [int(a) for a in axes_in]
        axes = [a + rank if a < 0 else a for a in axes]
        if any(int(k) < 1 for k in steps):
            raise Decline("negative steps (a reversal) are not rewritten")
        if all(int(k) == 1 for k in steps):
            raise Decline("every step is 1")
        crops: list[tuple[int, int, int]] = []  # (axis, begin, end) of the step-1 Slice
        strided: list[tuple[int, int, int, int]] = []  # (axis, k, n, o)
        pads = [0] * rank
        for axis, s, e, k in zip(axes, starts, ends, steps, strict=True):
            plan = _axis_plan(shape[axis], int(s), int(e), int(k))
            if plan is None:
                raise Decline("the slice is empty")
            crop, n, offset, pad = plan
            if int(k) == 1:
                crops.append((axis, crop, crop + n))
            else:
                crops.append((axis, crop, min(crop + int(k) * n, shape[axis])))
                strided.append((axis, int(k), n, offset))
                pads[axis] = pad
        if any(pads) and not self.has_op("Pad"):
            raise Decline("the last group is short and the target has no Pad to complete it")
        out = x
        current = list(shape)
        cut = [(a, lo, hi) for a, lo, hi in crops if (lo, hi) != (0, current[a])]
        if cut:
            out = self._slice(b, out, [c[0] for c in cut], [c[1] for c in cut], [c[2] for c in cut])
            for a, lo, hi in cut:
                current[a] = hi - lo
        if any(pads):  # zeros after the short last group; the Slices below never pick them
            both = [0] * rank + pads
            if b.opset < 11:
                out = b.op("Pad", [out], pads=both)
            else:
                out = b.op("Pad", [out, b.const(both, np.int64, hint="pads")])
            current = [c + p for c, p in zip(current, pads, strict=True)]
        for axis, k, n, offset in strided:
            if axis < rank - 1:  # group into the next axes: [.., n, k * inner]
                inner = int(np.prod(current[axis + 1 :]))
                grouped = [*current[:axis], n, k * inner]
                piece, cut_axis = (offset * inner, (offset + 1) * inner), axis + 1
            elif rank > 1:  # the last axis: merge the group count into the axis before it
                grouped = [*current[: axis - 1], current[axis - 1] * n, k]
                piece, cut_axis = (offset, offset + 1), axis
            else:
                grouped = [n, k]
                piece, cut_axis = (offset, offset + 1), 1
            out = b.op("Reshape", [out, b.const(grouped, np.int64, hint="groups")])
            out = self._slice(b, out, [cut_axis], [piece[0]], [piece[1]])
            current[axis] = n
            out = b.op("Reshape", [out, b.const(current, np.int64, hint="shape")])
        return [out]

    @staticmethod
    def _slice(
        b: Builder, x: ir.Value, axes: list[int], begin: list[int], end: list[int]
    ) -> ir.Value:
        return b.op(
            "Slice",
            [x, b.const(begin, np.int64, "starts"), b.const(end, np.int64, "ends"),
             b.const(axes, np.int64, "axes")],
        )  # fmt: skip
