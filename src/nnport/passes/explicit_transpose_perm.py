"""Transpose without perm → the same Transpose with its default permutation (the axes reversed)
written out, for converters that cannot take the default (pnnx)."""

from __future__ import annotations

from collections.abc import Sequence

import onnx_ir as ir

from nnport.passes.base import Builder, Decline, NodeRewritePass

# Hand-rolled: a one-attribute rewrite; neither onnxscript's rewriter nor its optimizer writes
# defaults out.


class ExplicitTransposePermPass(NodeRewritePass):
    """Write Transpose's default perm out (resolves attribute-unsupported: required perm)."""

    fix_id = "explicit-transpose-perm"
    resolves = ("attribute-unsupported",)
    op_type = "Transpose"

    def wants(self, node: ir.Node) -> bool:
        return "perm" not in node.attributes and super().wants(node)

    def rewrite(self, node: ir.Node, b: Builder) -> Sequence[ir.Value]:
        x = node.inputs[0]
        if x is None or x.shape is None:
            raise Decline("Transpose input rank is unknown; freeze the input shapes first")
        return [b.op("Transpose", [x], perm=list(range(len(x.shape)))[::-1])]
