"""Mish(x) → x · Tanh(Softplus(x))."""

from __future__ import annotations

from collections.abc import Sequence

import onnx_ir as ir

from nnport.passes.base import Builder, NodeRewritePass, np_dtype

# Hand-rolled: no shipped rule decomposes Mish (opset 18).


class DecomposeMishPass(NodeRewritePass):
    """Replace Mish with Softplus, Tanh, Mul (or Exp/Log when Softplus is missing too)."""

    fix_id = "decompose-mish"
    resolves = ("op-unsupported", "opset-out-of-range")
    op_type = "Mish"

    def rewrite(self, node: ir.Node, b: Builder) -> Sequence[ir.Value]:
        x = node.inputs[0]
        assert x is not None
        if self.has_op("Softplus"):
            soft = b.op("Softplus", [x])
        else:
            soft = b.op("Log", [b.op("Add", [b.op("Exp", [x]), b.const(1.0, np_dtype(x))])])
        return [b.op("Mul", [x, b.op("Tanh", [soft])])]
