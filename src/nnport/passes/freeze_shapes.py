"""Freeze dynamic input dims to given (or batch=1) sizes, re-infer shapes, fold Shape chains."""

from __future__ import annotations

from collections.abc import Collection, Mapping

import onnx_ir as ir

from nnport.model.graphs import infer_shapes
from nnport.passes.base import Decline, FixPass, all_nodes, static_shape
from nnport.passes.fold_constants import FoldConstantsPass

# Hand-rolled part: setting input dims and clearing stale symbolic shapes; shape propagation
# and folding are ONNX shape inference and onnxscript's constant folder.


def frozen_shape(value: ir.Value, given: tuple[int, ...] | None) -> tuple[int, ...]:
    """The static shape for one graph input: the given one, else batch (axis 0) = 1."""
    name = value.name or "?"
    if value.shape is None:
        if given is None:
            raise Decline(f"input {name!r} has unknown rank; give --input-shape {name}:...")
        return given
    dims = list(value.shape)
    if given is not None:
        if len(given) != len(dims):
            raise Decline(f"input {name!r} has rank {len(dims)}, the shape given has {len(given)}")
        return given
    out: list[int] = []
    for axis, dim in enumerate(dims):
        if isinstance(dim, int):
            out.append(dim)
        elif axis == 0:
            out.append(1)
        else:
            raise Decline(
                f"input {name!r} axis {axis} ({dim}) is dynamic and only the batch axis can be "
                f"guessed; give --input-shape {name}:"
                + "x".join(str(d) if isinstance(d, int) else "N" for d in dims)
            )
    return tuple(out)


class FreezeShapesPass(FixPass):
    """Make every input shape static, propagate shapes and fold what became constant.

    Resolves ``dynamic-shape`` (and ``input-not-constant`` on Shape-derived inputs). Declines,
    with the node named, when a data-dependent shape (NonZero, a computed Reshape) remains.
    """

    fix_id = "freeze-shapes"
    resolves = ("dynamic-shape", "input-not-constant")

    def __init__(
        self,
        input_shapes: Mapping[str, tuple[int, ...]] | None = None,
        *,
        nodes: Collection[str] | None = None,
    ) -> None:
        super().__init__(nodes=nodes)
        self.input_shapes = dict(input_shapes or {})

    def call(self, model: ir.Model) -> ir.passes.PassResult:
        changed = False
        inputs = [v for v in model.graph.inputs if v.name not in model.graph.initializers]
        plan = {v.name or "": frozen_shape(v, self.input_shapes.get(v.name or "")) for v in inputs}
        for value in inputs:
            shape = plan[value.name or ""]
            if static_shape(value) != shape:
                value.shape = ir.Shape(shape)
                changed = True
        if changed:
            for node in all_nodes(model.graph):
                for out in node.outputs:
                    if static_shape(out) is None:
                        out.shape = None
        fold = FoldConstantsPass()
        fold(model)
        infer_shapes(model)
        self.rewritten = fold.rewritten + sum(1 for _ in plan) * int(changed)
        for node in all_nodes(model.graph):
            for out in node.outputs:
                if out.shape is not None and static_shape(out) is None:
                    self.declined.append(
                        f"{node.name or node.op_type}: output {out.name!r} of {node.op_type} "
                        f"still has a data-dependent shape {list(out.shape)}"
                    )
                    break
        for out in model.graph.outputs:
            if static_shape(out) is None and out.shape is not None:
                self.declined.append(f"graph output {out.name!r} keeps a dynamic shape")
        return ir.passes.PassResult(model, changed or fold.rewritten > 0)
