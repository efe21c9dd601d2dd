"""What the probe records about a case's graph: each node's version, dtypes, attributes, constant inputs, and the graph I/O dtypes."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any

import numpy as np
import onnx


@dataclasses.dataclass(frozen=True)
class NodeUse:
    """One node of a case: the operator version it uses and the dtypes flowing in and out."""

    op: str
    domain: str
    version: int
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attributes: tuple[tuple[str, str], ...] = ()  # string attributes (modes), defaults included
    constant: tuple[int, ...] = ()  # input positions fed by initializers or Constant nodes
    # integer and integer-list attributes, defaults included, each value as compact JSON
    int_attributes: tuple[tuple[str, str], ...] = ()
    rank: int = -1  # the highest rank among its tensor inputs and outputs (-1: unknown)
    # a reduction over every axis or over none (no axes, or empty constant axes): its result
    # does not depend on which axis is which, so it says nothing about a batch axis
    axis_free: bool = False
    # an input or output not fed by a constant has an axis of length 0 (no elements)
    empty: bool = False
    # float attributes, defaults included, each value as text (float32, as ONNX stores it)
    float_attributes: tuple[tuple[str, str], ...] = ()


def _domain_opsets(model: onnx.ModelProto) -> dict[str, int]:
    return {("" if i.domain == "ai.onnx" else i.domain): int(i.version) for i in model.opset_import}


def _iter_graphs(graph: onnx.GraphProto) -> Iterable[onnx.GraphProto]:
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _iter_graphs(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from _iter_graphs(g)


def int_text(value: Any) -> str:
    """An integer or integer-list attribute value as compact JSON ('1', '[0,2,3,1]')."""
    if isinstance(value, (list, tuple)):
        return json.dumps([int(v) for v in value], separators=(",", ":"))
    return json.dumps(int(value))


def float_text(value: float) -> str:
    """A float attribute value as text: the float32 ONNX stores, as the shortest repr."""
    return repr(float(np.float32(value)))


def _attributes(
    node: onnx.NodeProto, schema: Any
) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """String, integer and float attributes of ``node``, with the schema's defaults for absent
    ones."""
    strings: dict[str, str] = {}
    ints: dict[str, str] = {}
    floats: dict[str, str] = {}
    for a in node.attribute:
        if a.type == onnx.AttributeProto.STRING:
            strings[a.name] = a.s.decode()
        elif a.type == onnx.AttributeProto.INT:
            ints[a.name] = int_text(a.i)
        elif a.type == onnx.AttributeProto.INTS:
            ints[a.name] = int_text(list(a.ints))
        elif a.type == onnx.AttributeProto.FLOAT:
            floats[a.name] = float_text(a.f)
    if schema is not None:
        for name, spec in schema.attributes.items():
            default = spec.default_value
            if name in strings or name in ints or name in floats or not default.name:
                continue
            if default.type == onnx.AttributeProto.STRING:
                strings[name] = default.s.decode()  # checked against the ONNX default
            elif default.type == onnx.AttributeProto.INT:
                ints[name] = int_text(default.i)
            elif default.type == onnx.AttributeProto.INTS:
                ints[name] = int_text(list(default.ints))
            elif default.type == onnx.AttributeProto.FLOAT:
                floats[name] = float_text(default.f)
    return strings, ints, floats


def _types(model: onnx.ModelProto) -> tuple[dict[str, str], dict[str, int], set[str]]:
    """Element type and rank (when known) of every named value, from shape inference, and the
    names of values with an axis of length 0."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # keep going with the declared types only
        inferred = model
    types: dict[str, str] = {}
    ranks: dict[str, int] = {}
    empty: set[str] = set()
    for graph in _iter_graphs(inferred.graph):
        for vi in [*graph.input, *graph.output, *graph.value_info]:
            tt = vi.type
            kind = tt.WhichOneof("value")
            if kind == "tensor_type" and tt.tensor_type.elem_type:
                types[vi.name] = onnx.helper.tensor_dtype_to_np_dtype(tt.tensor_type.elem_type).name
                if tt.tensor_type.HasField("shape"):
                    dims = tt.tensor_type.shape.dim
                    ranks[vi.name] = len(dims)
                    if any(d.HasField("dim_value") and d.dim_value == 0 for d in dims):
                        empty.add(vi.name)
            elif kind:
                types[vi.name] = kind.replace("_type", "")  # sequence / optional / map
        for init in graph.initializer:
            types[init.name] = onnx.helper.tensor_dtype_to_np_dtype(init.data_type).name
            ranks[init.name] = len(init.dims)
            if 0 in init.dims:
                empty.add(init.name)
    return types, ranks, empty


def _axis_free(node: onnx.NodeProto, empty: set[str]) -> bool:
    """A Reduce* node given no axes (attribute or input), or an empty constant axes input with
    noop_with_empty_axes=1 (as ``nnport.check.batch_axis.reduces_everything`` reads a node)."""
    if not node.op_type.startswith("Reduce") or any(a.name == "axes" for a in node.attribute):
        return False
    noop = any(a.name == "noop_with_empty_axes" and a.i == 1 for a in node.attribute)
    return len(node.input) < 2 or not node.input[1] or (noop and node.input[1] in empty)


def node_uses(model: onnx.ModelProto) -> tuple[NodeUse, ...]:
    """Every node (subgraphs included) with its operator version, inferred dtypes and attributes."""
    types, ranks, empties = _types(model)
    opsets = _domain_opsets(model)
    uses = []
    for graph in _iter_graphs(model.graph):
        constants = {t.name for t in graph.initializer} | {
            o for n in graph.node if n.op_type == "Constant" and n.domain in ("", "ai.onnx")
            for o in n.output
        }  # fmt: skip
        empty = empties & constants
        for node in graph.node:
            domain = "" if node.domain == "ai.onnx" else node.domain
            try:
                schema = onnx.defs.get_schema(node.op_type, opsets.get(domain, 1), domain)
                version = int(schema.since_version)
            except Exception:  # a function or an unknown op: keep the model's opset
                schema, version = None, opsets.get(domain, 0)
            strings, ints, floats = _attributes(node, schema)
            uses.append(
                NodeUse(
                    node.op_type,
                    domain,
                    version,
                    tuple(types.get(n, "") if n else "" for n in node.input),
                    tuple(types.get(n, "") if n else "" for n in node.output),
                    tuple(sorted(strings.items())),
                    tuple(i for i, n in enumerate(node.input) if n and n in constants),
                    tuple(sorted(ints.items())),
                    max((ranks.get(n, -1) for n in (*node.input, *node.output) if n), default=-1),
                    _axis_free(node, empty),
                    any(n in empties and n not in constants for n in (*node.input, *node.output)),
                    tuple(sorted(floats.items())),
                )
            )
    return tuple(uses)


def graph_io(model: onnx.ModelProto) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Element types of the graph's inputs (initializers excluded) and outputs."""

    def name(vi: onnx.ValueInfoProto) -> str:
        kind = vi.type.WhichOneof("value")
        if kind == "tensor_type" and vi.type.tensor_type.elem_type:
            return onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type).name
        return kind.replace("_type", "") if kind else ""

    initializers = {t.name for t in model.graph.initializer}
    inputs = tuple(name(vi) for vi in model.graph.input if vi.name not in initializers)
    return inputs, tuple(name(vi) for vi in model.graph.output)
