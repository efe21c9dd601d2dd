"""Walking a model's graphs: the subgraphs a node holds, a graph with all nested in it, and the
tensor behind a constant value."""

from __future__ import annotations

from collections.abc import Iterator

import onnx_ir as ir


def node_subgraphs(node: ir.Node) -> list[ir.Graph]:
    """The graphs held directly in ``node``'s attributes (If branches, Loop/Scan bodies)."""
    found: list[ir.Graph] = []
    for attr in node.attributes.values():
        if attr.type == ir.AttributeType.GRAPH:
            found.append(attr.as_graph())
        elif attr.type == ir.AttributeType.GRAPHS:
            found.extend(attr.as_graphs())
    return found


def all_graphs(graph: ir.Graph) -> Iterator[ir.Graph]:
    """``graph`` and every subgraph nested in its nodes' attributes."""
    yield graph
    for node in graph:
        for sub in node_subgraphs(node):
            yield from all_graphs(sub)


def constant_tensor(value: ir.Value | None) -> ir.TensorProtocol | None:
    """The tensor of an initializer or of a Constant node's ``value`` (None otherwise)."""
    if value is None:
        return None
    if value.const_value is not None:
        return value.const_value
    producer = value.producer()
    if (
        producer is not None
        and producer.op_type == "Constant"
        and producer.domain in ("", "ai.onnx")
    ):
        attr = producer.attributes.get("value")
        if attr is not None and attr.type == ir.AttributeType.TENSOR:
            return attr.as_tensor()
    return None
