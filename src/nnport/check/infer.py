"""Type and shape facts for every tensor: ONNX shape inference on a weight-free copy of the model."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import onnx
import onnx_ir as ir

from nnport.errors import ModelLoadError
from nnport.model.dtypes import dtype_name

logger = logging.getLogger(__name__)

# Initializers above this many bytes are passed to inference as typed inputs, without data, so
# a 100 MB model costs no more to infer than its graph; small ones keep their values because
# data propagation (Shape -> Gather -> Concat -> Reshape) needs them.
SMALL_TENSOR_BYTES = 4096

Dim = int | str | None


@dataclass(frozen=True)
class TensorFacts:
    """What inference knows about one tensor: dtype name ('unknown' if not) and shape (None = rank unknown)."""

    dtype: str
    shape: tuple[Dim, ...] | None

    @property
    def static(self) -> bool:
        """Every dim is a known integer."""
        return self.shape is not None and all(isinstance(d, int) for d in self.shape)

    @property
    def rank(self) -> int | None:
        """The rank, or None when unknown."""
        return None if self.shape is None else len(self.shape)


@dataclass
class Inference:
    """The facts for all named tensors, plus a note when inference failed (facts are then partial)."""

    facts: dict[str, TensorFacts] = field(default_factory=dict)
    error: str = ""

    def get(self, value: ir.Value | None) -> TensorFacts:
        """Facts for ``value`` (inferred, else what the model itself declares)."""
        if value is None:
            return TensorFacts("unknown", None)
        found = self.facts.get(value.name or "")
        if found is not None and found.dtype != "unknown":
            return found
        return facts_of_value(value)


def facts_of_value(value: ir.Value) -> TensorFacts:
    """Facts declared on an onnx-ir value (or its constant)."""
    dtype = value.dtype
    shape: Any = value.shape
    if value.const_value is not None:
        dtype = dtype or value.const_value.dtype
        shape = shape or value.const_value.shape
    dims: tuple[Dim, ...] | None = None
    if shape is not None:
        dims = tuple(d if isinstance(d, int) else (d.value or None) for d in shape)
    return TensorFacts(dtype_name(dtype), dims)


def _shape_of(type_proto: onnx.TypeProto) -> TensorFacts:
    if not type_proto.HasField("tensor_type"):
        return TensorFacts("unknown", None)
    tensor = type_proto.tensor_type
    dtype = dtype_name(ir.DataType(tensor.elem_type)) if tensor.elem_type else "unknown"
    if not tensor.HasField("shape"):
        return TensorFacts(dtype, None)
    dims: list[Dim] = []
    for dim in tensor.shape.dim:
        if dim.HasField("dim_value"):
            dims.append(int(dim.dim_value))
        elif dim.HasField("dim_param"):
            dims.append(dim.dim_param)
        else:
            dims.append(None)
    return TensorFacts(dtype, tuple(dims))


def _walk_graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _walk_graphs(attr.g)
            for sub in attr.graphs:
                yield from _walk_graphs(sub)


def _set_dims(value_info: onnx.ValueInfoProto, dims: tuple[int, ...]) -> None:
    shape = value_info.type.tensor_type.shape
    shape.ClearField("dim")
    for d in dims:
        shape.dim.add().dim_value = d


def weightless_proto(
    model: ir.Model, input_shapes: Mapping[str, tuple[int, ...]] | None = None
) -> onnx.ModelProto:
    """A ModelProto of ``model`` without large weights (they become typed inputs); ``model`` is untouched.

    ``input_shapes`` replaces the shapes of the named graph inputs in the copy.
    """
    proto = onnx.ModelProto()
    proto.ir_version = max(model.ir_version or 8, 4)
    for domain, version in model.opset_imports.items():
        entry = proto.opset_import.add()
        entry.domain = domain
        entry.version = version
    graph = proto.graph
    graph.name = model.graph.name or "main"
    shapes = dict(input_shapes or {})
    for value in model.graph.inputs:
        info = graph.input.add()
        ir.serde.serialize_value_into(info, value)
        if value.name in shapes:
            _set_dims(info, shapes[value.name])
    declared_inputs = {v.name for v in model.graph.inputs}
    for name, value in model.graph.initializers.items():
        tensor = value.const_value
        if tensor is not None and tensor.nbytes <= SMALL_TENSOR_BYTES:
            if isinstance(tensor, ir.ExternalTensor):
                tensor = ir.Tensor(tensor.numpy(), name=name)  # inline: the copy has no folder
            ir.serde.serialize_tensor_into(graph.initializer.add(), tensor)
            graph.initializer[-1].name = name
        elif name not in declared_inputs:
            info = graph.input.add()
            info.name = name
            tensor_type = info.type.tensor_type
            dtype = value.dtype or (tensor.dtype if tensor is not None else None)
            tensor_type.elem_type = int(dtype) if dtype is not None else 0
            shape = value.shape or (tensor.shape if tensor is not None else None)
            if shape is not None:
                _set_dims(info, tuple(int(d) for d in shape.dims if isinstance(d, int)))
    for node in model.graph:
        ir.serde.serialize_node_into(graph.node.add(), node)
    for value in model.graph.outputs:
        ir.serde.serialize_value_into(graph.output.add(), value)
    for function in model.functions.values():
        ir.serde.serialize_function_into(proto.functions.add(), function)
    return proto


def infer(model: ir.Model, input_shapes: Mapping[str, tuple[int, ...]] | None = None) -> Inference:
    """Run ONNX shape inference (with data propagation) on a weight-free copy of ``model``."""
    result = Inference()
    try:
        proto = weightless_proto(model, input_shapes)
        inferred = onnx.shape_inference.infer_shapes(
            proto, check_type=False, strict_mode=False, data_prop=True
        )
    except Exception as exc:  # inference is best effort: rules then use declared types
        result.error = " ".join(str(exc).split())[:300]
        logger.warning("shape inference failed: %s", result.error)
        inferred = None
    if inferred is None:
        return result
    for graph in _walk_graphs(inferred.graph):
        for info in (*graph.input, *graph.value_info, *graph.output):
            facts = _shape_of(info.type)
            known = result.facts.get(info.name)
            if known is None or (known.shape is None and facts.shape is not None):
                result.facts[info.name] = facts
    return result


def validate_graph(model: ir.Model, where: str) -> None:
    """Run ``onnx.checker`` on the weight-free copy: the structural checks ``load`` does, in a
    fraction of the time for a large model (the weights are not serialised twice)."""
    try:
        onnx.checker.check_model(weightless_proto(model), full_check=False)
    except onnx.checker.ValidationError as exc:
        first = next((line for line in str(exc).splitlines() if line.strip()), "invalid model")
        raise ModelLoadError(
            f"{where} is not a valid ONNX model: {first}",
            hint="the file may be truncated or corrupt; re-export it",
        ) from exc
