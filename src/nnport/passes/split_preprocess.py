"""Split off input pre-processing (normalize, resize, pad before the first Conv/MatMul) to a host model."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import onnx_ir as ir

from nnport.model.graphs import infer_shapes
from nnport.passes.base import Decline
from nnport.passes.split_postprocess import (
    HEAVY_OPS,
    _detach_subgraphs,
    _end_at,
    _owners,
    _readers,
    _start_at,
    _sub_nodes,
    _values_by_name,
)

PRE_SUFFIX = ".pre.onnx"

# Hand-rolled like the post-processing split (onnx-ir removes the dead code): torchvision's
# detectors normalize, resize and pad the image inside the graph (GeneralizedRCNNTransform);
# Caffe-like targets (NNIE) have no layer for that, and their users do it on the host (or in the
# mapper's mean/scale settings) anyway.


def pre_region(model: ir.Model, exclude: Collection[ir.Node] = ()) -> set[ir.Node]:
    """Main-graph nodes that read the graph inputs with no Conv/MatMul/Gemm (or subgraph) on
    the way: the model's input pre-processing. ``exclude`` (a post-processing region) is left out."""
    graph = model.graph
    owner = _owners(graph)
    from_inputs: set[ir.Node] = set()
    tainted: set[ir.Node] = set()  # downstream of a heavy op
    for node in graph:
        reads_input = False
        for value in node.inputs:
            if value is None:
                continue
            producer = value.producer()
            if producer is None:
                reads_input = reads_input or value.is_graph_input()
                continue
            top = owner.get(producer, producer)
            if top in tainted:
                tainted.add(node)
            reads_input = reads_input or top in from_inputs
        if node.op_type in HEAVY_OPS or _sub_nodes(node):
            tainted.add(node)
        if reads_input and node not in tainted:
            from_inputs.add(node)
    return {n for n in from_inputs if n not in exclude}


@dataclass
class PreSplit:
    """The host pre-processing model, the rest of the model, and the tensors that join them."""

    host: ir.Model
    device: ir.Model
    cut: list[str]
    nodes: int


def split_pre(model: ir.Model, region: set[ir.Node]) -> PreSplit:
    """Cut ``model`` (not modified) into a host model from the graph inputs to the tensors the
    rest reads (its outputs) and the rest, which takes those tensors as inputs."""
    graph = model.graph
    order = list(graph)
    owner = _owners(graph)
    cut: list[str] = []
    for node in order:
        if node not in region:
            continue
        for out in node.outputs:
            rest = _readers(out, owner) - region
            if out.is_graph_output():
                raise Decline(f"pre-processing output {out.name!r} is a model output")
            if rest and out.name:
                cut.append(out.name)
    if not cut or len(region) == len(order):
        raise Decline("no pre-processing to split off")
    host = model.clone()
    infer_shapes(host)
    _detach_subgraphs(host.graph, {i for i, node in enumerate(order) if node not in region})
    hvalues = _values_by_name(host.graph)
    untyped = [name for name in cut if hvalues[name].dtype is None]
    if untyped:
        raise Decline(f"shape inference cannot type the tensor(s) at the cut: {untyped[:3]}")
    shapes = {name: hvalues[name].shape for name in cut}
    if any(s is None or not all(isinstance(d, int) for d in s) for s in shapes.values()):
        raise Decline("the tensors at the cut have no static shape")
    _end_at(host, hvalues, cut)

    device = model.clone()
    _start_at(device, hvalues, cut, "host")
    return PreSplit(host, device, cut, sum(1 for _ in host.graph))
