"""If branch output that is a zero-size constant → the same empty tensor computed at run time."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx_ir as ir

from nnport.check.defects.if_empty import MATERIALIZE_EMPTY_BRANCH, empty_branch_outputs
from nnport.passes.base import Decline, FixPass, all_nodes, const_array, default_opset

# Hand-rolled: no shipped rewrite rule targets a runtime's If defect. OpenVINO returns one
# element of garbage from an If whose branch yields a zero-size *constant*, and gets a zero-size
# tensor right when the branch computes it. The empty tensor is sliced out of the If's own
# condition (a run-time value, so nothing folds it back into a constant) and reshaped.


class MaterializeEmptyBranchPass(FixPass):
    """Replace each zero-size constant an If branch returns by Slice(Cast(cond))[0:0], reshaped."""

    fix_id = MATERIALIZE_EMPTY_BRANCH
    resolves = ("runtime-defect",)

    def call(self, model: ir.Model) -> ir.passes.PassResult:
        if default_opset(model) < 10:  # Slice takes its bounds as inputs from opset 10
            self.declined.append("the model's opset is below 10; convert it first")
            return ir.passes.PassResult(model, False)
        for node in all_nodes(model.graph):
            hits = empty_branch_outputs(node)
            if not hits or not self.wants(node):
                continue
            cond = node.inputs[0]
            if cond is None or const_array(cond) is not None:
                self.declined.append(f"{node.name or 'If'}: its condition is a constant")
                continue
            try:
                for branch, position, tensor in hits:
                    _materialize(node.attributes[branch].as_graph(), position, tensor, cond)
            except Decline as reason:
                self.declined.append(f"{node.name or 'If'}: {reason}")
                continue
            self.rewritten += 1
        return ir.passes.PassResult(model, self.rewritten > 0)


def _materialize(graph: ir.Graph, position: int, tensor: ir.TensorProtocol, cond: ir.Value) -> None:
    """Make output ``position`` of ``graph`` (the zero-size constant ``tensor``, as
    ``empty_branch_outputs`` found it) an empty tensor computed from ``cond``."""
    old = graph.outputs[position]
    shape = list(tensor.shape.numpy())  # a tensor's shape is static
    if shape.count(0) > 1:
        raise Decline(f"shape {tuple(shape)} has more than one zero dim")
    dtype = tensor.dtype
    prefix = f"{graph.name or 'branch'}/empty_{position}"

    def add(op: str, inputs: list[ir.Value], **attrs: Any) -> ir.Value:
        node = ir.node(op, inputs, attributes=attrs or None, name=f"{prefix}/{op}")
        graph.append(node)
        return node.outputs[0]  # type: ignore[no-any-return]

    def const(values: list[int]) -> ir.Value:
        return add("Constant", [], value=ir.tensor(np.array(values, np.int64)))

    flat = add("Reshape", [add("Cast", [cond], to=int(dtype)), const([1])])
    empty = add("Slice", [flat, const([0]), const([0]), const([0])])
    if len(shape) != 1:
        empty = add("Reshape", [empty, const([-1 if d == 0 else d for d in shape])])
    empty.name = f"{prefix}/value"
    empty.type = ir.TensorType(dtype)
    empty.shape = ir.Shape(shape)
    graph.outputs[position] = empty
    producer = old.producer()
    if producer is not None and not old.uses() and old not in graph.outputs:
        graph.remove(producer, safe=True)  # the constant (or Identity) no one reads any more
