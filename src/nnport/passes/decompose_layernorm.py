"""LayerNormalization(x, γ, β) → (x − mean) / √(var + ε) · γ + β with ReduceMean."""

from __future__ import annotations

from collections.abc import Sequence

import onnx_ir as ir

from nnport.passes.base import Builder, Decline, NodeRewritePass, np_dtype

# Hand-rolled: onnxscript fuses LayerNorm patterns but has no decomposition; the onnx version
# converter refuses to take LayerNormalization below opset 17.


class DecomposeLayerNormPass(NodeRewritePass):
    """Replace LayerNormalization (opset 17) with ReduceMean, Sub, Mul, Sqrt, Div, Add."""

    fix_id = "decompose-layernorm"
    resolves = ("op-unsupported", "opset-out-of-range")
    op_type = "LayerNormalization"

    def rewrite(self, node: ir.Node, b: Builder) -> Sequence[ir.Value]:
        x = node.inputs[0]
        assert x is not None
        if x.shape is None:
            raise Decline("the input rank is unknown")
        rank = len(x.shape)
        axis = node.attributes.get_int("axis", -1)
        axes = list(range(axis % rank, rank))
        dt = np_dtype(x)
        eps = node.attributes.get_float("epsilon", 1e-5)
        mean = b.reduce("ReduceMean", x, axes)
        centred = b.op("Sub", [x, mean])
        var = b.reduce("ReduceMean", b.op("Mul", [centred, centred]), axes)
        std = b.op("Sqrt", [b.op("Add", [var, b.const(eps, dt)])])
        out = b.op("Mul", [b.op("Div", [centred, std]), node.inputs[1]])
        if len(node.inputs) > 2 and node.inputs[2] is not None:
            out = b.op("Add", [out, node.inputs[2]])
        values = [out]
        if len(node.outputs) > 1:  # the optional Mean output
            values.append(mean)
        if len(node.outputs) > 2:  # InvStdDev: a Reciprocal only when someone reads it
            inv = node.outputs[2]
            used = bool(inv.uses()) or inv.is_graph_output()
            values.append(b.op("Reciprocal", [std]) if used else std)
        return values
