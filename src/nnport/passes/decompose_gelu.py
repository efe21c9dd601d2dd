"""Gelu(x) → 0.5 · x · (1 + Erf(x / √2)), or the tanh form when approximate="tanh"."""

from __future__ import annotations

import math
from collections.abc import Sequence

import onnx_ir as ir

from nnport.passes.base import Builder, Decline, NodeRewritePass, np_dtype

# Hand-rolled: onnxscript fuses Erf/Tanh chains into Gelu; the inverse is not shipped.


class DecomposeGeluPass(NodeRewritePass):
    """Replace Gelu (opset 20) with Erf or Tanh arithmetic (resolves op-unsupported on Gelu)."""

    fix_id = "decompose-gelu"
    resolves = ("op-unsupported", "opset-out-of-range")
    op_type = "Gelu"

    def rewrite(self, node: ir.Node, b: Builder) -> Sequence[ir.Value]:
        x = node.inputs[0]
        assert x is not None
        dt = np_dtype(x)
        approximate = node.attributes.get_string("approximate", "none")
        if approximate == "none":
            inner = b.op("Erf", [b.op("Mul", [x, b.const(1.0 / math.sqrt(2.0), dt)])])
        elif approximate == "tanh":
            cube = b.op("Mul", [b.op("Mul", [x, x]), x])
            poly = b.op("Add", [x, b.op("Mul", [cube, b.const(0.044715, dt)])])
            inner = b.op("Tanh", [b.op("Mul", [poly, b.const(math.sqrt(2.0 / math.pi), dt)])])
        else:
            raise Decline(f"unknown approximate={approximate!r}")
        one_plus = b.op("Add", [inner, b.const(1.0, dt)])
        return [b.op("Mul", [b.op("Mul", [x, one_plus]), b.const(0.5, dt)])]
