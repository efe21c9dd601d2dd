"""LayerNormalization(x, γ, β) → u = (x − mean) / s, u / √(mean(u²) + ε/s²) · γ + β, s = max|x − mean|."""

from __future__ import annotations

import math
from collections.abc import Sequence

import onnx_ir as ir

from nnport.passes.base import Builder, Decline, NodeRewritePass, np_dtype

# Hand-rolled: onnxscript fuses LayerNorm patterns but has no decomposition; the onnx version
# converter refuses to take LayerNormalization below opset 17.
#
# Range-safe in fp16: the textbook form squares the deviations x − mean, which overflows fp16
# (max 65504) once a deviation passes 256. Dividing the deviations by their largest magnitude
# s first keeps every square in [0, 1]; the result is the same (u / √(mean(u²) + ε/s²) =
# (x − mean) / √(var + ε)), and √ε/s is formed before squaring so ε/s² underflows, not s²
# overflows. The floor on s (√ε) keeps a constant row at 0 instead of 0/0.
_RANGE_OPS = ("Abs", "ReduceMax", "Max")


class DecomposeLayerNormPass(NodeRewritePass):
    """Replace LayerNormalization (opset 17) with ReduceMean, ReduceMax, Sub, Div, Mul, Sqrt, Add."""

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
        scale: ir.Value | None = None
        if all(self.has_op(op) for op in _RANGE_OPS):
            floor = math.sqrt(eps) if eps > 0 else 2.0**-13
            widest = b.reduce("ReduceMax", b.op("Abs", [centred]), axes)
            scale = b.op("Max", [widest, b.const(floor, dt)])
            centred = b.op("Div", [centred, scale])
            small = b.op("Div", [b.const(math.sqrt(eps), dt), scale])
            eps_term = b.op("Mul", [small, small])
        else:  # the target lacks the range ops: the textbook form
            eps_term = b.const(eps, dt)
        var = b.reduce("ReduceMean", b.op("Mul", [centred, centred]), axes)
        std = b.op("Sqrt", [b.op("Add", [var, eps_term])])
        out = b.op("Mul", [b.op("Div", [centred, std]), node.inputs[1]])
        if len(node.inputs) > 2 and node.inputs[2] is not None:
            out = b.op("Add", [out, node.inputs[2]])
        values = [out]
        if len(node.outputs) > 1:  # the optional Mean output
            values.append(mean)
        if len(node.outputs) > 2:  # InvStdDev: 1 / (s · std), only when someone reads it
            inv = node.outputs[2]
            used = bool(inv.uses()) or inv.is_graph_output()
            full = b.op("Mul", [scale, std]) if scale is not None else std
            values.append(b.op("Reciprocal", [full]) if used else std)
        return values
