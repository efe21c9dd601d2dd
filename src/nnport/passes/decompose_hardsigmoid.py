"""HardSigmoid(x; alpha, beta) → Clip(alpha · x + beta, 0, 1)."""

from __future__ import annotations

from collections.abc import Sequence

import onnx_ir as ir

from nnport.passes.base import Builder, NodeRewritePass, np_dtype

# Hand-rolled: neither onnx-ir nor onnxscript ships a HardSigmoid decomposition.


class DecomposeHardSigmoidPass(NodeRewritePass):
    """Replace HardSigmoid with Mul, Add, Clip (resolves op-unsupported on HardSigmoid)."""

    fix_id = "decompose-hardsigmoid"
    resolves = ("op-unsupported",)
    op_type = "HardSigmoid"

    def rewrite(self, node: ir.Node, b: Builder) -> Sequence[ir.Value]:
        x = node.inputs[0]
        assert x is not None
        dt = np_dtype(x)
        alpha = node.attributes.get_float("alpha", 0.2)
        beta = node.attributes.get_float("beta", 0.5)
        scaled = b.op("Add", [b.op("Mul", [x, b.const(alpha, dt)]), b.const(beta, dt)])
        return [b.clip(scaled, 0.0, 1.0, dt, self.has_op)]
