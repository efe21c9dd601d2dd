"""Graph inputs/outputs of a dtype the target cannot take become float32 with a Cast at the boundary."""

from __future__ import annotations

from collections.abc import Collection

import onnx_ir as ir

from nnport.passes.base import FixPass, set_dtype

# Hand-rolled: onnx-ir has no pass that changes graph I/O types.


class CastGraphIOPass(FixPass):
    """``ind: int64`` → ``ind: float32`` + Cast(to=int64) inside; outputs Cast to float32.

    Resolves ``io-dtype``. ``allowed`` lists the dtypes the target takes at the boundary
    (e.g. float32, uint8); ``carrier`` is the dtype used instead (float32: integers up to 2**24
    are exact, which the planner's verification checks on real values).
    """

    fix_id = "cast-graph-io"
    resolves = ("io-dtype",)

    def __init__(
        self,
        allowed: Collection[str] = ("float32",),
        carrier: ir.DataType = ir.DataType.FLOAT,
        *,
        allowed_outputs: Collection[str] | None = None,
        nodes: Collection[str] | None = None,
    ) -> None:
        super().__init__(nodes=nodes)
        self.allowed = {_dtype(a) for a in allowed}
        outputs = allowed if allowed_outputs is None else allowed_outputs
        self.allowed_outputs = {_dtype(a) for a in outputs}
        self.carrier = carrier

    def call(self, model: ir.Model) -> ir.passes.PassResult:
        graph = model.graph
        first = next(iter(graph), None)
        for value in list(graph.inputs):
            if value.name in graph.initializers or not self.allowed or value.dtype in self.allowed:
                continue
            if value.dtype is None:
                continue
            original = value.dtype
            set_dtype(value, self.carrier)
            # The old value keeps its consumers; it becomes the Cast's output under a new name.
            inner = ir.Value(
                name=f"{value.name}_as_{original.name.lower()}",
                type=ir.TensorType(original),
                shape=value.shape,
            )
            ir.convenience.replace_all_uses_with(value, inner)
            node = ir.node("Cast", [value], {"to": original.value}, outputs=[inner], version=None)
            node.name = f"{value.name}_io_cast"
            if first is not None:
                graph.insert_before(first, node)
            else:
                graph.append(node)
            first = node
            self.rewritten += 1
        for index, value in enumerate(list(graph.outputs)):
            if (
                not self.allowed_outputs
                or value.dtype in self.allowed_outputs
                or value.dtype is None
            ):
                continue
            name = value.name or f"output_{index}"
            value.name = f"{name}_before_io_cast"
            out = ir.Value(name=name, type=ir.TensorType(self.carrier), shape=value.shape)
            node = ir.node("Cast", [value], {"to": self.carrier.value}, outputs=[out])
            node.name = f"{name}_io_cast"
            graph.append(node)
            graph.outputs[index] = out
            self.rewritten += 1
        return ir.passes.PassResult(model, self.rewritten > 0)


def _dtype(name: str) -> ir.DataType:
    from nnport.model.dtypes import from_name

    return from_name(name)
