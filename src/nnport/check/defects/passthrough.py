"""Defect `passthrough-graph`: a graph output that is a graph input passed through no-op nodes
only (Identity, a Transpose with the identity permutation).

pnnx removes no-op nodes, so such an output becomes the input itself and ncnn finds no input
blob ("find_blob_index_by_name in0 failed"); the node suite's ``test_identity`` and
``test_transpose_all_permutations_0`` fail that way. Measured on [1, 3, 4, 5]: an Identity or
identity Transpose after a Conv, or an Identity followed by a Relu, converts and matches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import onnx_ir as ir

from nnport.check.defects.repro import Repro, checked_model

if TYPE_CHECKING:
    from nnport.check.context import Context


def _no_op(node: ir.Node | None) -> bool:
    """An Identity, or a Transpose whose permutation leaves every axis in place."""
    if node is None or node.domain not in ("", "ai.onnx"):
        return False
    if node.op_type == "Identity":
        return True
    perm = node.attributes.get_ints("perm")
    return node.op_type == "Transpose" and perm is not None and list(perm) == [*range(len(perm))]


def detect(ctx: Context, node: ir.Node, label: str) -> str | None:
    """A no-op node of the main graph making a graph output from a graph input through no-op
    nodes only."""
    graph = ctx.model.graph
    if not _no_op(node) or node.graph is not graph or not node.outputs:
        return None
    if node.outputs[0] not in graph.outputs:
        return None
    value = node.inputs[0] if node.inputs else None
    while value is not None and _no_op(value.producer()):
        producer = value.producer()
        value = producer.inputs[0] if producer is not None and producer.inputs else None
    if value is None or value not in graph.inputs or value.name in graph.initializers:
        return None
    return (
        f"{node.op_type} '{label}' makes graph output '{node.outputs[0].name}' from graph input "
        f"'{value.name}' through no-op nodes only; {ctx.profile.name}'s converter removes them "
        f"and the model is left without its input"
    )


def repro() -> Repro:
    """Identity(x) as the whole graph; the control: Relu(x)."""
    from onnx import TensorProto, helper

    def graph_of(op: str) -> Repro:
        graph = helper.make_graph(
            [helper.make_node(op, ["x"], ["y"])], "passthrough",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 5])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 5])],
        )  # fmt: skip
        feeds = {"x": np.random.default_rng(0).standard_normal((1, 3, 4, 5)).astype(np.float32)}
        return Repro(checked_model(graph, 13), feeds)

    made, control = graph_of("Identity"), graph_of("Relu")
    return Repro(made.model, made.feeds, control.model, control.feeds)
