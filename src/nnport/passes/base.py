"""Shared machinery of the fix passes: the FixPass base, node-by-node rewriting, opset-aware builders."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Sequence
from typing import Any, ClassVar

import numpy as np
import onnx_ir as ir

from nnport.model.graphs import constant_tensor, infer_shapes

_counter = itertools.count()


class Decline(Exception):
    """Raised by a pass that will not rewrite a node (or a model); the message reaches the user."""


def default_opset(model: ir.Model) -> int:
    """The model's default-domain opset version."""
    return int(model.opset_imports.get("", model.opset_imports.get("ai.onnx", 1)))


def all_nodes(graph: ir.Graph) -> list[ir.Node]:
    """Every node of ``graph`` and of its subgraphs (If/Loop/Scan bodies), outer nodes first."""
    return list(ir.traversal.RecursiveGraphIterator(graph))


def const_array(value: ir.Value | None) -> np.ndarray | None:
    """The numpy data of a constant value (initializer or Constant node output), else None."""
    tensor = constant_tensor(value)
    return None if tensor is None else np.asarray(tensor.numpy())


def static_shape(value: ir.Value | None) -> tuple[int, ...] | None:
    """The fully static shape of ``value`` or None when unknown or symbolic."""
    if value is None or value.shape is None:
        return None
    dims = tuple(value.shape)
    if not all(isinstance(d, int) for d in dims):
        return None
    return tuple(int(d) for d in dims)  # type: ignore[arg-type]


class Builder:
    """Records new nodes for one rewrite, choosing attribute-or-input forms by the model's opset."""

    def __init__(self, graph: ir.Graph, opset: int, prefix: str) -> None:
        self.tape = ir.tape.Tape(graph)
        self.graph = graph
        self.opset = opset
        self.prefix = prefix

    def _name(self, hint: str) -> str:
        return f"{self.prefix}/{hint}_{next(_counter)}"

    def const(self, array: Any, dtype: np.dtype | type | None = None, hint: str = "c") -> ir.Value:
        """A new initializer holding ``array`` (converted, never relabelled, to ``dtype``)."""
        data = np.asarray(array, dtype=dtype)
        name = self._name(hint)
        return self.tape.initializer(ir.tensor(data, name=name), name=name)

    def op(self, op_type: str, inputs: Sequence[ir.Value | None], **attrs: Any) -> ir.Value:
        """Append one single-output node and return its output."""
        return self.tape.op(op_type, list(inputs), attrs or None, name=self._name(op_type))

    def reduce(self, op_type: str, x: ir.Value, axes: Sequence[int], keepdims: int = 1) -> ir.Value:
        """Reduce* over ``axes``: axes attribute before its input form (ReduceSum 13, others 18)."""
        as_input = self.opset >= (13 if op_type == "ReduceSum" else 18)
        if as_input:
            return self.op(op_type, [x, self.const(list(axes), np.int64)], keepdims=keepdims)
        return self.op(op_type, [x], axes=list(axes), keepdims=keepdims)

    def clip(
        self,
        x: ir.Value,
        low: float,
        high: float,
        dtype: np.dtype,
        has_op: Callable[[str], bool] | None = None,
    ) -> ir.Value:
        """Clip to constant bounds: attributes before opset 11, inputs after; on targets without
        Clip (Caffe-like), low + Relu(x - low) - Relu(x - high) with Add, Relu and Scale only."""
        if has_op is not None and not has_op("Clip") and has_op("Relu"):
            above_low = self.op("Relu", [self.op("Add", [x, self.const(-low, dtype)])])
            above_high = self.op("Relu", [self.op("Add", [x, self.const(-high, dtype)])])
            negated = self.op("Mul", [above_high, self.const(-1.0, dtype)])
            out = self.op("Add", [above_low, negated])
            return self.op("Add", [out, self.const(low, dtype)]) if low != 0.0 else out
        if self.opset < 11:
            return self.op("Clip", [x], min=float(low), max=float(high))
        return self.op("Clip", [x, self.const(low, dtype), self.const(high, dtype)])


def set_dtype(value: ir.Value, dtype: ir.DataType) -> None:
    """Give ``value`` a new tensor type object (types may be shared between clones)."""
    value.type = ir.TensorType(dtype)


def np_dtype(value: ir.Value) -> np.dtype:
    """The numpy dtype of a value (float32 when unknown)."""
    if value.dtype is None:
        return np.dtype(np.float32)
    return np.dtype(value.dtype.numpy())


class FixPass(ir.passes.PassBase):
    """A verified rewrite the planner may apply; subclasses name the fix id and rules they resolve.

    In place by default (like ``ir.passes.InPlacePass``); a pass that returns a new model
    overrides ``in_place`` and ``changes_input``.
    """

    @property
    def in_place(self) -> bool:
        """The pass edits and returns the model it is given."""
        return True

    @property
    def changes_input(self) -> bool:
        """The model given is changed."""
        return True

    fix_id: ClassVar[str] = ""
    resolves: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *,
        nodes: Collection[str] | None = None,
        has_op: Callable[[str], bool] | None = None,
    ) -> None:
        super().__init__()
        self.only_nodes = frozenset(nodes) if nodes is not None else None
        self.has_op: Callable[[str], bool] = has_op or (lambda _op: True)
        self.rewritten = 0
        self.declined: list[str] = []

    def wants(self, node: ir.Node) -> bool:
        """Whether the planner asked for ``node`` (all nodes when it named none; an unnamed
        node, which check can only call 'Op#i', is always wanted)."""
        return self.only_nodes is None or not node.name or node.name in self.only_nodes


class NodeRewritePass(FixPass):
    """Rewrites each node of one op type into new nodes, or records why it declined."""

    op_type: ClassVar[str] = ""
    # Several op types (op_type "*"): the planner names the nodes to rewrite.
    op_types: ClassVar[tuple[str, ...]] = ()

    def rewrite(self, node: ir.Node, b: Builder) -> Sequence[ir.Value]:
        """Build the replacement for ``node`` with ``b``; return values replacing its outputs."""
        raise NotImplementedError

    def call(self, model: ir.Model) -> ir.passes.PassResult:
        opset = default_opset(model)
        wanted = set(self.op_types) or {self.op_type}
        if any(n.op_type in wanted for n in all_nodes(model.graph)):
            infer_shapes(model)  # rewrites read ranks and static shapes
        for node in all_nodes(model.graph):
            if node.op_type not in wanted or node.domain not in ("", "ai.onnx"):
                continue
            if not self.wants(node) or node.graph is None:
                continue
            builder = Builder(node.graph, opset, node.name or self.op_type)
            try:
                new_values = list(self.rewrite(node, builder))
            except Decline as reason:
                for init in builder.tape.initializers:
                    node.graph.initializers.pop(init.name or "", None)
                self.declined.append(f"{node.name or node.op_type}: {reason}")
                continue
            replace_node(node, builder, new_values)
            self.rewritten += 1
        return ir.passes.PassResult(model, self.rewritten > 0)


def replace_node(node: ir.Node, b: Builder, new_values: Sequence[ir.Value]) -> None:
    """Swap ``node`` for the builder's nodes, keeping output names, types and shapes."""
    graph = node.graph
    assert graph is not None
    for old, new in zip(node.outputs, new_values, strict=True):
        if new.type is None and old.type is not None:
            new.type = old.type
        if new.shape is None and old.shape is not None:
            new.shape = old.shape
    ir.convenience.replace_nodes_and_values(
        graph, node, [node], list(b.tape.nodes), list(node.outputs), list(new_values)
    )
