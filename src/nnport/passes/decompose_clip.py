"""Clip(x, min, max) with computed bounds → Min(Max(x, min), max)."""

from __future__ import annotations

from collections.abc import Sequence

import onnx_ir as ir

from nnport.passes.base import Builder, Decline, NodeRewritePass, const_array, np_dtype

# Hand-rolled: onnxscript's rules go the other way (Min/Max → Clip).


class DecomposeClipPass(NodeRewritePass):
    """Replace Clip whose min/max are not constants (resolves input-not-constant on Clip)."""

    fix_id = "decompose-clip"
    resolves = ("input-not-constant", "op-unsupported")
    op_type = "Clip"

    def rewrite(self, node: ir.Node, b: Builder) -> Sequence[ir.Value]:
        x = node.inputs[0]
        assert x is not None
        bounds = list(node.inputs[1:3]) + [None] * (3 - len(node.inputs))
        low, high = bounds[0], bounds[1]
        constant = [None if v is None else const_array(v) for v in (low, high)]
        if all(v is None or c is not None for v, c in zip((low, high), constant, strict=True)):
            if self.only_nodes is None:
                raise Decline("min and max are constants already")
            if not self.has_op("Min") and self.has_op("Relu"):  # Caffe-like targets
                lo = float(constant[0].reshape(-1)[0]) if constant[0] is not None else None
                hi = float(constant[1].reshape(-1)[0]) if constant[1] is not None else None
                if lo is None or hi is None:
                    raise Decline("a one-sided Clip needs Max or Min on this target")
                return [b.clip(x, lo, hi, np_dtype(x), self.has_op)]
        if low is None and high is None:
            raise Decline("Clip without bounds (attribute form) needs no decomposition")
        out = x
        if low is not None:
            out = b.op("Max", [out, low])
        if high is not None:
            out = b.op("Min", [out, high])
        return [out]
