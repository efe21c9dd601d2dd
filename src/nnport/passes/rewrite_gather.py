"""Gather(x, constant indices of several elements) → step-1 Slices of x along the axis, Concat,
and a Reshape when the indices are not a vector."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx_ir as ir

from nnport.passes.base import Builder, Decline, NodeRewritePass, const_array

# Hand-rolled: neither onnxscript's rewriter nor its optimizer turns a Gather into Slices. pnnx
# maps a Gather of a run-time tensor to a one-index select whatever its indices hold (ncnn:
# defect gather-index-list); a Slice per run of consecutive indices is exact, as it only moves
# elements.
MAX_PIECES = 64  # Slices we write for one Gather; more is a lookup table, not a selection


def runs(indices: Sequence[int]) -> list[tuple[int, int]]:
    """Consecutive runs of ``indices`` in order, as [start, end) pairs: [0, 1, 2, 5] -> [(0, 3),
    (5, 6)]."""
    found: list[tuple[int, int]] = []
    for i in indices:
        if found and found[-1][1] == i:
            found[-1] = (found[-1][0], i + 1)
        else:
            found.append((i, i + 1))
    return found


class RewriteGatherPass(NodeRewritePass):
    """Gather with constant indices of more than one element as step-1 Slices, a Concat and a
    Reshape (resolves input-not-scalar on Gather's indices)."""

    fix_id = "rewrite-gather"
    resolves = ("input-not-scalar",)
    op_type = "Gather"

    def rewrite(self, node: ir.Node, b: Builder) -> Sequence[ir.Value]:
        x = node.inputs[0]
        indices = const_array(node.inputs[1])
        if x is None or indices is None:
            raise Decline("the indices are computed at run time, not constants")
        if indices.size <= 1:
            raise Decline("one index: nothing to rewrite")
        if x.shape is None:
            raise Decline("the data's rank is unknown (freeze the input shapes first)")
        dims = [d if isinstance(d, int) else None for d in x.shape]
        rank = len(dims)
        axis = node.attributes.get_int("axis", 0) % rank
        length = dims[axis]
        flat = [int(i) for i in indices.reshape(-1)]
        if any(i < 0 for i in flat):
            if length is None:
                raise Decline("negative indices on an axis of unknown length")
            flat = [i + length if i < 0 else i for i in flat]
        pieces = runs(flat)
        if len(pieces) > MAX_PIECES:
            raise Decline(f"{len(pieces)} runs of indices (more than {MAX_PIECES} Slices)")
        if b.opset < 10:
            raise Decline("opset below 10 (Slice takes its bounds as inputs from opset 10)")
        parts = [self._slice(b, x, axis, lo, hi) for lo, hi in pieces]
        out = parts[0] if len(parts) == 1 else b.op("Concat", parts, axis=axis)
        if indices.ndim == 1:
            return [out]
        return [b.op("Reshape", [out, b.const(_shape(dims, axis, indices.shape), np.int64)])]

    @staticmethod
    def _slice(b: Builder, x: ir.Value, axis: int, lo: int, hi: int) -> ir.Value:
        bounds = [b.const([v], np.int64, hint=h) for v, h in ((lo, "starts"), (hi, "ends"))]
        return b.op("Slice", [x, *bounds, b.const([axis], np.int64, hint="axes")])


def _shape(dims: list[int | None], axis: int, index_shape: tuple[int, ...]) -> list[int]:
    """Reshape's target: the leading axes copied (0 where not static), the indices' shape, then
    the trailing axes (-1 for at most one that is not static)."""
    lead = [0 if d is None else d for d in dims[:axis]]
    tail = [-1 if d is None else d for d in dims[axis + 1 :]]
    if tail.count(-1) > 1:
        raise Decline("more than one trailing axis of unknown length")
    return [*lead, *(int(n) for n in index_shape), *tail]
