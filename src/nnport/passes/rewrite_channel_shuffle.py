"""Reshape(N,g,C/g,H,W) → Transpose(0,2,1,3,4) → Reshape(N,C,H,W) → one 1×1 Conv with a permutation."""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np
import onnx_ir as ir

from nnport.model.graphs import infer_shapes
from nnport.passes.base import Builder, FixPass, all_nodes, const_array, default_opset, static_shape

# Hand-rolled: ShuffleNet's channel shuffle needs 5-D tensors, which Caffe-like targets (NNIE:
# rank <= 4, Permute only NCHW -> NHWC) cannot hold. A 1x1 Conv whose weight is a permutation
# matrix moves each channel exactly (one product by 1.0, the rest by 0.0).
MAX_CHANNELS = 2048


class RewriteChannelShufflePass(FixPass):
    """Channel shuffle as a permutation Conv (resolves rank-exceeded / attribute-unsupported)."""

    fix_id = "rewrite-channel-shuffle"
    resolves = ("rank-exceeded", "attribute-unsupported")

    def __init__(
        self,
        *,
        nodes: Collection[str] | None = None,
        has_op: Callable[[str], bool] | None = None,
    ) -> None:
        super().__init__(nodes=nodes, has_op=has_op)

    def call(self, model: ir.Model) -> ir.passes.PassResult:
        infer_shapes(model)
        opset = default_opset(model)
        for node in all_nodes(model.graph):
            if node.op_type != "Transpose" or node.graph is None:
                continue
            match = _match(node)
            if match is None:
                continue
            first, last, groups = match
            graph = node.graph
            x = first.inputs[0]
            assert x is not None
            shape = static_shape(x)
            assert shape is not None
            channels = shape[1]
            if channels > MAX_CHANNELS:
                self.declined.append(f"{node.name}: {channels} channels is too many for a Conv")
                continue
            per = channels // groups
            # output channel c' = k * groups + j takes input channel j * per + k
            weight = np.zeros((channels, channels, 1, 1), np.float32)
            for j in range(groups):
                for k in range(per):
                    weight[k * groups + j, j * per + k, 0, 0] = 1.0
            b = Builder(node.graph, opset, node.name or "shuffle")
            out = b.op("Conv", [x, b.const(weight, np.float32, hint="permutation")])
            old = last.outputs[0]
            out.type, out.shape = old.type, old.shape
            graph.insert_before(first, list(b.tape.nodes))
            if old.is_graph_output():  # the Conv output takes the graph output's place and name
                index = list(graph.outputs).index(old)
                graph.outputs[index] = out
                out.name, old.name = old.name, f"{old.name}_replaced"
            ir.convenience.replace_all_uses_with(old, out)
            for dead in (last, node, first):
                if not any(v.uses() or v.is_graph_output() for v in dead.outputs):
                    graph.remove(dead, safe=True)
            self.rewritten += 1
        return ir.passes.PassResult(model, self.rewritten > 0)


def _match(transpose: ir.Node) -> tuple[ir.Node, ir.Node, int] | None:
    """(first Reshape, last Reshape, groups) when ``transpose`` is a 4-D channel shuffle."""
    perm = transpose.attributes.get("perm")
    if perm is None or list(perm.as_ints()) != [0, 2, 1, 3, 4]:
        return None
    src = transpose.inputs[0]
    first = src.producer() if src is not None else None
    uses = list(transpose.outputs[0].uses())
    if first is None or first.op_type != "Reshape" or len(uses) != 1:
        return None
    last = uses[0][0]
    if last.op_type != "Reshape" or len(list(src.uses())) != 1:  # type: ignore[union-attr]
        return None
    x = first.inputs[0]
    in_shape, mid = static_shape(x), static_shape(src)
    out_shape = static_shape(last.outputs[0])
    if in_shape is None or mid is None or out_shape != in_shape or len(in_shape) != 4:
        return None
    n, c, h, w = in_shape
    if len(mid) != 5 or mid[0] != n or mid[1] * mid[2] != c or mid[3:] != (h, w):
        return None
    if const_array(first.inputs[1]) is None or const_array(last.inputs[1]) is None:
        return None
    return first, last, mid[1]
