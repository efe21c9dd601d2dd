"""Leave out attributes written at their ONNX default that a converter misreads when written:
Resize's nearest_mode ("round_prefer_floor"), for pnnx."""

from __future__ import annotations

from collections.abc import Sequence

import onnx
import onnx_ir as ir

from nnport.check.fixes import DEFAULTS_DROPPED, DROP_DEFAULTS
from nnport.passes.base import Builder, Decline, NodeRewritePass

# Hand-rolled: a one-attribute edit, the mirror of write-defaults; neither onnxscript's rewriter
# nor its optimizer leaves defaults out. The node keeps its name, inputs and outputs.


class DropDefaultsPass(NodeRewritePass):
    """Leave out Resize's nearest_mode where it is written at its default (resolves
    attribute-unsupported from the defect resize-nearest-mode)."""

    fix_id = DROP_DEFAULTS
    resolves = ("attribute-unsupported",)
    op_type = "*"
    op_types = tuple(DEFAULTS_DROPPED)

    def rewrite(self, node: ir.Node, b: Builder) -> Sequence[ir.Value]:
        name = DEFAULTS_DROPPED[node.op_type]
        written = node.attributes.get(name)
        if written is None:
            raise Decline(f"{name} is not written out")
        schema = onnx.defs.get_schema(node.op_type, b.opset, node.domain or "")
        default = onnx.helper.get_attribute_value(schema.attributes[name].default_value)
        default = default.decode() if isinstance(default, bytes) else default
        if written.value != default:
            raise Decline(f"{name}={written.value!r} is not the default {default!r}")
        kept = {k: a for k, a in node.attributes.items() if k != name}
        return list(
            b.tape.op_multi_out(
                node.op_type, list(node.inputs), kept, num_outputs=len(node.outputs)
            )
        )
