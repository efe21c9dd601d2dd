"""HardSwish(x) → x · Clip(x + 3, 0, 6) / 6, for targets without HardSwish (opset 14)."""

from __future__ import annotations

from collections.abc import Sequence

import onnx_ir as ir

from nnport.passes.base import Builder, NodeRewritePass, np_dtype

# Hand-rolled: onnxscript's rewriter fuses HardSwish, it has no rule that decomposes it.


class DecomposeHardSwishPass(NodeRewritePass):
    """Replace HardSwish with Add, Clip, Mul (resolves op-unsupported on HardSwish)."""

    fix_id = "decompose-hardswish"
    resolves = ("op-unsupported", "opset-out-of-range")
    op_type = "HardSwish"

    def rewrite(self, node: ir.Node, b: Builder) -> Sequence[ir.Value]:
        x = node.inputs[0]
        assert x is not None
        dt = np_dtype(x)
        relu6 = b.clip(b.op("Add", [x, b.const(3.0, dt)]), 0.0, 6.0, dt, self.has_op)
        return [b.op("Mul", [b.op("Mul", [x, relu6]), b.const(1.0 / 6.0, dt)])]
