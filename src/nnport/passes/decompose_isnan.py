"""IsNaN(x) → Not(Equal(x, x)): NaN is the only value not equal to itself."""

from __future__ import annotations

from collections.abc import Sequence

import onnx_ir as ir

from nnport.passes.base import Builder, NodeRewritePass

# Hand-rolled: no shipped rule decomposes IsNaN (transformers' attention masks use it).


class DecomposeIsNaNPass(NodeRewritePass):
    """Replace IsNaN with Equal and Not (resolves op-unsupported on IsNaN)."""

    fix_id = "decompose-isnan"
    resolves = ("op-unsupported",)
    op_type = "IsNaN"

    def rewrite(self, node: ir.Node, b: Builder) -> Sequence[ir.Value]:
        x = node.inputs[0]
        assert x is not None
        return [b.op("Not", [b.op("Equal", [x, x])])]
