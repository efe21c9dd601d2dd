"""Clip(x, min, max) with computed bounds → Min(Max(x, min), max)."""

from __future__ import annotations

from collections.abc import Sequence

import onnx_ir as ir

from nnport.passes.base import Builder, Decline, NodeRewritePass, const_array

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
        if self.only_nodes is None and all(
            v is None or const_array(v) is not None for v in (low, high)
        ):
            raise Decline("min and max are constants already")
        if low is None and high is None:
            raise Decline("Clip without bounds (attribute form) needs no decomposition")
        out = x
        if low is not None:
            out = b.op("Max", [out, low])
        if high is not None:
            out = b.op("Min", [out, high])
        return [out]
