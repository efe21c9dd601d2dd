"""LpNormalization(x) → x / Max(ReduceL2(x), ε) (ReduceL1 for p=1), so zero rows give zeros."""

from __future__ import annotations

from collections.abc import Sequence

import onnx_ir as ir

from nnport.passes.base import Builder, Decline, NodeRewritePass, np_dtype

# Hand-rolled: no shipped rule decomposes LpNormalization.
EPSILON = 1e-12  # torch.nn.functional.normalize's default


class DecomposeLpNormPass(NodeRewritePass):
    """Replace LpNormalization with a reduction, Max(ε) and Div (MindSpore L2Normalize)."""

    fix_id = "decompose-lpnorm"
    resolves = ("op-unsupported",)
    op_type = "LpNormalization"

    def rewrite(self, node: ir.Node, b: Builder) -> Sequence[ir.Value]:
        x = node.inputs[0]
        assert x is not None
        p = node.attributes.get_int("p", 2)
        axis = node.attributes.get_int("axis", -1)
        if x.shape is not None:
            axis %= len(x.shape)
        elif axis < 0:
            raise Decline("negative axis on an input of unknown rank")
        dt = np_dtype(x)
        if p == 1:
            norm = b.reduce("ReduceL1", x, [axis])
        elif p != 2:
            raise Decline(f"p={p} (only 1 and 2 are defined)")
        elif self.has_op("ReduceL2"):
            norm = b.reduce("ReduceL2", x, [axis])
        else:
            norm = b.op("Sqrt", [b.reduce("ReduceSum", b.op("Mul", [x, x]), [axis])])
        return [b.op("Div", [x, b.op("Max", [norm, b.const(EPSILON, dt)])])]
