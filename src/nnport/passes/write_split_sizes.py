"""Split(x, num_outputs=k) along an axis k does not divide → Split(x, split=[ceil(n/k), ...,
rest]): the part lengths ONNX gives, written out as the split input."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx_ir as ir

from nnport.check.defects.split import WRITE_SPLIT_SIZES, uneven_parts
from nnport.passes.base import Builder, Decline, NodeRewritePass, static_shape

# Hand-rolled: one node's attribute into an input; neither onnxscript's rewriter nor its
# optimizer writes num_outputs out as sizes.


class WriteSplitSizesPass(NodeRewritePass):
    """Split by num_outputs with uneven parts as a Split given its part lengths (resolves
    shape-unsupported from the defect split-uneven-parts)."""

    fix_id = WRITE_SPLIT_SIZES
    resolves = ("shape-unsupported",)
    op_type = "Split"

    def rewrite(self, node: ir.Node, b: Builder) -> Sequence[ir.Value]:
        parts = node.attributes.get_int("num_outputs")
        shape = static_shape(node.inputs[0])
        if parts is None:
            raise Decline("no num_outputs: the parts are given already")
        if shape is None:
            raise Decline("the input shape is not static (freeze the input shapes first)")
        axis = node.attributes.get_int("axis", 0) % len(shape)
        sizes = uneven_parts(shape[axis], parts)
        if sizes is None:
            raise Decline(f"{parts} parts divide the axis of {shape[axis]} evenly")
        split = b.const(sizes, np.int64, hint="split")
        return list(
            b.tape.op_multi_out(
                "Split", [node.inputs[0], split], {"axis": axis}, num_outputs=len(node.outputs)
            )
        )
