"""ReduceMean(x, axes=[2,3]) on NCHW → GlobalAveragePool(x) (+ Flatten when keepdims=0)."""

from __future__ import annotations

from collections.abc import Sequence

import onnx_ir as ir

from nnport.passes.base import Builder, Decline, NodeRewritePass, const_array

# Hand-rolled: onnxscript has no rule mapping spatial means to pooling (Caffe-like targets
# such as NNIE have pooling layers but no reductions).


class ReplaceReduceMeanPass(NodeRewritePass):
    """Spatial ReduceMean (global average pooling written as a reduction) → GlobalAveragePool."""

    fix_id = "reducemean-to-pool"
    resolves = ("op-unsupported",)
    op_type = "ReduceMean"

    def rewrite(self, node: ir.Node, b: Builder) -> Sequence[ir.Value]:
        x = node.inputs[0]
        assert x is not None
        if x.shape is None or len(x.shape) != 4:
            raise Decline("only 4-D NCHW inputs map to GlobalAveragePool")
        if "axes" in node.attributes:
            axes = list(node.attributes["axes"].as_ints())
        elif len(node.inputs) > 1 and node.inputs[1] is not None:
            data = const_array(node.inputs[1])
            if data is None:
                raise Decline("the axes are computed")
            axes = [int(a) for a in data.reshape(-1)]
        else:
            raise Decline("a reduction over every axis is not a spatial mean")
        if sorted(a % 4 for a in axes) != [2, 3]:
            raise Decline(f"axes {axes} are not the spatial axes [2, 3]")
        pooled = b.op("GlobalAveragePool", [x])
        if node.attributes.get_int("keepdims", 1):
            return [pooled]
        return [b.op("Flatten", [pooled], axis=1)]
