"""Tile/Expand → nothing when every consumer broadcasts; else nearest Resize (1×1 maps) or Concat of copies."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import numpy as np
import onnx_ir as ir

from nnport.model.graphs import infer_shapes
from nnport.passes.base import (
    Builder,
    Decline,
    FixPass,
    all_nodes,
    const_array,
    default_opset,
    replace_node,
    static_shape,
)

# Hand-rolled: onnxscript's rewriter has no Tile rules (it removes no-op Expand only).

BROADCASTING = {
    "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Where", "Equal", "Less",
    "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Mod", "PRelu",
}  # fmt: skip
MAX_COPIES = 64


def _broadcast(shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...] | None:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        return None


class RewriteTilePass(FixPass):
    """Remove, resize or unroll Tile/Expand (resolves op-unsupported/input-not-constant on them).

    Declines, with the reason, a Tile whose repeats are computed or whose shapes are unknown, or
    one that would need more than ``max_copies`` copies.
    """

    fix_id = "rewrite-tile"
    resolves = ("op-unsupported", "input-not-constant", "broadcast-unsupported")

    def __init__(
        self,
        *,
        max_copies: int = MAX_COPIES,
        nodes: Collection[str] | None = None,
        has_op: Callable[[str], bool] | None = None,
    ) -> None:
        super().__init__(nodes=nodes, has_op=has_op)
        self.max_copies = max_copies

    def call(self, model: ir.Model) -> ir.passes.PassResult:
        opset = default_opset(model)
        infer_shapes(model)  # broadcasting decisions need static shapes
        for node in all_nodes(model.graph):
            if node.op_type not in ("Tile", "Expand") or node.domain not in ("", "ai.onnx"):
                continue
            if not self.wants(node) or node.graph is None:
                continue
            try:
                self._rewrite(node, opset)
                self.rewritten += 1
            except Decline as reason:
                self.declined.append(f"{node.name or node.op_type}: {reason}")
        return ir.passes.PassResult(model, self.rewritten > 0)

    def _rewrite(self, node: ir.Node, opset: int) -> None:
        x, amount = node.inputs[0], node.inputs[1]
        out = node.outputs[0]
        assert x is not None and node.graph is not None
        x_shape, out_shape = static_shape(x), static_shape(out)
        arg = const_array(amount)
        if arg is None:
            raise Decline(
                f"{node.op_type} {'repeats' if node.op_type == 'Tile' else 'shape'} are computed "
                "at run time; freeze the input shapes so they fold to constants"
            )
        if x_shape is None:
            raise Decline("the input shape is unknown")
        if node.op_type == "Tile":
            repeats = [int(r) for r in arg.reshape(-1)]
            tiled = tuple(d * r for d, r in zip(x_shape, repeats, strict=True))
        else:
            repeats = []
            tiled = _broadcast([x_shape, tuple(int(d) for d in arg.reshape(-1))]) or ()
        if out_shape is not None and out_shape != tiled:
            raise Decline(f"inferred output shape {out_shape} disagrees with {tiled}")
        broadcast_equal = node.op_type == "Expand" or all(
            r == 1 or d == 1 for d, r in zip(x_shape, repeats, strict=True)
        )
        if broadcast_equal and self._consumers_broadcast(out, x_shape, tiled):
            self._remove(node, x)
            return
        if node.op_type == "Expand":
            raise Decline("a consumer does not broadcast, and Expand is kept for it")
        b = Builder(node.graph, opset, node.name or "Tile")
        axes = [i for i, r in enumerate(repeats) if r != 1]
        if (
            len(x_shape) == 4
            and axes
            and set(axes) <= {2, 3}
            and x_shape[2] == x_shape[3] == 1
            and self.has_op("Resize")
        ):
            scales = np.array([1.0, 1.0, repeats[2], repeats[3]], np.float32)
            if opset >= 11:
                empty = b.const(np.zeros(0, np.float32), hint="roi")
                result = b.op(
                    "Resize", [x, empty, b.const(scales, hint="scales")], mode="nearest",
                    coordinate_transformation_mode="asymmetric", nearest_mode="floor",
                )  # fmt: skip
            else:
                result = b.op("Upsample", [x, b.const(scales, hint="scales")], mode="nearest")
            replace_node(node, b, [result])
            return
        copies = int(np.prod([repeats[a] for a in axes])) if axes else 1
        if copies > self.max_copies:
            raise Decline(
                f"does not broadcast into its consumers and would need {copies} copies "
                f"(more than {self.max_copies}) as a Concat"
            )
        result = x
        for axis in axes:
            result = b.op("Concat", [result] * repeats[axis], axis=axis)
        if not axes:
            result = b.op("Identity", [x])
        replace_node(node, b, [result])

    def _consumers_broadcast(
        self, out: ir.Value, x_shape: tuple[int, ...], tiled: tuple[int, ...]
    ) -> bool:
        """True when every consumer broadcasts and its output shape stays the same without us."""
        if out.is_graph_output() or not out.uses():
            return False
        for consumer, _index in out.uses():
            if consumer.op_type not in BROADCASTING:
                return False
            others = []
            for value in consumer.inputs:
                if value is out or value is None:
                    continue
                shape = static_shape(value)
                if shape is None:
                    return False
                others.append(shape)
            if consumer.op_type == "PRelu":
                return False  # PRelu broadcasts slope into x only, not the other way
            if _broadcast([*others, tiled]) != _broadcast([*others, x_shape]):
                return False
        return True

    def _remove(self, node: ir.Node, x: ir.Value) -> None:
        out = node.outputs[0]
        for consumer, index in list(out.uses()):
            consumer.replace_input_with(index, x)
        assert node.graph is not None
        node.graph.remove(node, safe=True)
