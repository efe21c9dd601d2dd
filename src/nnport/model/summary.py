"""``inspect``: a structural summary of a model (I/O, opsets, op histogram, parameters)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import onnx_ir as ir

from nnport.model.graphs import all_graphs
from nnport.model.io import SOURCE_PATH_KEY
from nnport.model.specs import TensorInfo, describe_value, graph_inputs

STANDARD_DOMAINS = frozenset(
    {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training"}
)


def op_key(domain: str, op_type: str) -> str:
    """``Conv`` for the default domain, ``com.microsoft::FusedConv`` otherwise."""
    return op_type if domain in ("", "ai.onnx") else f"{domain}::{op_type}"


@dataclass(frozen=True)
class Summary:
    """What ``nnport inspect`` reports; its JSON form is documented in docs/json.md."""

    path: str | None
    ir_version: int
    producer_name: str
    producer_version: str
    opsets: dict[str, int]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    dynamic_inputs: tuple[str, ...]
    node_count: int
    node_count_total: int
    op_histogram: dict[str, int]
    parameter_count: int
    parameter_bytes: int
    external_data_files: tuple[str, ...]
    custom_domains: tuple[str, ...]
    function_count: int
    schema: str = field(default="nnport.summary/1")


def inspect(model: ir.Model) -> Summary:
    """Summarize ``model``: I/O with dynamic dims, opsets, op histogram, parameters, domains."""
    histogram: Counter[str] = Counter()
    total = 0
    domains: set[str] = set(model.opset_imports)
    for node in ir.traversal.RecursiveGraphIterator(model.graph):
        histogram[op_key(node.domain, node.op_type)] += 1
        domains.add(node.domain)
        total += 1
    for function in model.functions.values():
        for node in function:
            domains.add(node.domain)
            total += 1
    params = 0
    nbytes = 0
    external: set[str] = set()
    for graph in all_graphs(model.graph):
        for value in graph.initializers.values():
            tensor = value.const_value
            if tensor is None:
                continue
            params += tensor.size
            nbytes += tensor.nbytes
            if isinstance(tensor, ir.ExternalTensor):
                external.add(str(tensor.location))
    inputs = tuple(describe_value(v) for v in graph_inputs(model))
    opsets = {("ai.onnx" if d == "" else d): v for d, v in sorted(model.opset_imports.items())}
    return Summary(
        path=model.meta.get(SOURCE_PATH_KEY),
        ir_version=model.ir_version,
        producer_name=model.producer_name or "",
        producer_version=model.producer_version or "",
        opsets=opsets,
        inputs=inputs,
        outputs=tuple(describe_value(v) for v in model.graph.outputs),
        dynamic_inputs=tuple(i.name for i in inputs if i.dynamic),
        node_count=len(model.graph),
        node_count_total=total,
        op_histogram=dict(sorted(histogram.items(), key=lambda kv: (-kv[1], kv[0]))),
        parameter_count=params,
        parameter_bytes=nbytes,
        external_data_files=tuple(sorted(external)),
        custom_domains=tuple(sorted(d for d in domains if d not in STANDARD_DOMAINS)),
        function_count=len(model.functions),
    )
