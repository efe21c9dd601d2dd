"""Walking a model's graphs: the subgraphs a node holds, a graph with all nested in it, and the
tensor behind a constant value."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import onnx_ir as ir
import onnx_ir.passes.common as common

logger = logging.getLogger(__name__)


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


def infer_shapes(model: ir.Model) -> None:
    """Best-effort ONNX shape inference in place (a graph ONNX cannot type is left as it is)."""
    try:
        result = common.ShapeInferencePass(strict_mode=False)(model)
    except Exception as exc:  # onnx shape inference raises on graphs it cannot type
        logger.debug("shape inference failed: %s", exc)
        return
    if result.model is not model:  # pragma: no cover - the pass is in place
        model.graph._nodes = result.model.graph._nodes
