"""Walking a model's graphs: the subgraphs a node holds, and a graph with all nested in it."""

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
