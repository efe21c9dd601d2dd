"""Write out attributes left to their ONNX default that a converter misreads: Transpose's perm
(the axes reversed) and Split's axis (0), for pnnx."""

from __future__ import annotations

from collections.abc import Sequence

import onnx_ir as ir

from nnport.check.fixes import DEFAULTS_WRITTEN
from nnport.passes.base import Builder, Decline, NodeRewritePass

# Hand-rolled: a one-attribute rewrite; neither onnxscript's rewriter nor its optimizer writes
# defaults out.


class WriteDefaultsPass(NodeRewritePass):
    """Write Transpose's default perm and Split's default axis out (resolves
    attribute-unsupported on a required attribute)."""

    fix_id = "write-defaults"
    resolves = ("attribute-unsupported",)
    op_type = "*"
    op_types = tuple(DEFAULTS_WRITTEN)

    def wants(self, node: ir.Node) -> bool:
        return DEFAULTS_WRITTEN[node.op_type] not in node.attributes and super().wants(node)

    def rewrite(self, node: ir.Node, b: Builder) -> Sequence[ir.Value]:
        x = node.inputs[0]
        if node.op_type == "Split":
            attributes = {"axis": 0, **_kept(node)}
            count = len(node.outputs)
            return list(
                b.tape.op_multi_out("Split", list(node.inputs), attributes, num_outputs=count)
            )
        if x is None or x.shape is None:
            raise Decline("Transpose input rank is unknown; freeze the input shapes first")
        return [b.op("Transpose", [x], perm=list(range(len(x.shape)))[::-1])]


def _kept(node: ir.Node) -> dict[str, int]:
    """The node's other attributes (Split-18's num_outputs; Split has integer ones only)."""
    return {name: attr.as_int() for name, attr in node.attributes.items()}
