"""ONNX → Caffe (model.prototxt + model.caffemodel) for the NNIE mapper, node by node, atomically."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import onnx
import onnx_ir as ir
from google.protobuf import text_format

from nnport.backends.artifacts import staging_dir
from nnport.backends.caffe import ops, shape_ops
from nnport.backends.caffe.mapper import MapperConfig, mapper_files
from nnport.backends.caffe.net import CaffeNet, Unsupported, node_label
from nnport.backends.caffe.ops import Emitter
from nnport.errors import BackendError

logger = logging.getLogger(__name__)

PROTOTXT = "model.prototxt"
CAFFEMODEL = "model.caffemodel"

# ONNX op → emitter; a plain table in one place, so what converts is visible.
EMITTERS: dict[str, Emitter] = {
    "Conv": ops.conv,
    "ConvTranspose": ops.deconv,
    "BatchNormalization": ops.batchnorm,
    "MaxPool": ops.pool,
    "AveragePool": ops.pool,
    "GlobalAveragePool": ops.global_pool,
    "GlobalMaxPool": ops.global_pool,
    "Gemm": ops.gemm,
    "MatMul": ops.matmul,
    "Add": ops.eltwise,
    "Sum": ops.eltwise,
    "Sub": ops.eltwise,
    "Mul": ops.eltwise,
    "Div": ops.eltwise,
    "Max": ops.eltwise,
    "Relu": ops.activation,
    "LeakyRelu": ops.activation,
    "Sigmoid": ops.activation,
    "Tanh": ops.activation,
    "Abs": ops.activation,
    "PRelu": ops.prelu,
    "Clip": ops.clip,
    "Concat": shape_ops.concat,
    "Split": shape_ops.split,
    "Slice": shape_ops.slice_,
    "Reshape": shape_ops.reshape,
    "Flatten": shape_ops.reshape,
    "Squeeze": shape_ops.reshape,
    "Unsqueeze": shape_ops.reshape,
    "Transpose": shape_ops.transpose,
    "Softmax": shape_ops.softmax,
    "Resize": shape_ops.upsample,
    "Upsample": shape_ops.upsample,
    "Identity": shape_ops.identity,
    "Dropout": shape_ops.identity,
}


@dataclass(frozen=True)
class LayerMap:
    """One ONNX node and the Caffe layers it became (none: an alias such as Identity)."""

    node: str
    op: str
    layers: tuple[str, ...]
    types: tuple[str, ...]


@dataclass(frozen=True)
class CaffeNetResult:
    """The net built in memory: text and weights, the node → layer table, outputs, notes."""

    prototxt: str
    caffemodel: bytes
    inputs: dict[str, tuple[int, ...]]
    outputs: dict[str, str]  # ONNX output name -> Caffe layer whose first top holds it
    layers: tuple[LayerMap, ...]
    notes: tuple[str, ...]


def _opset(model: ir.Model) -> int:
    return int(model.opset_imports.get("", model.opset_imports.get("ai.onnx", 13)))


def _static_shapes(
    model: ir.Model, input_shapes: Mapping[str, tuple[int, ...]] | None
) -> dict[str, tuple[int, ...]]:
    """Every tensor's static shape by ONNX shape inference on a serialized copy, the given
    input shapes first (the caller's model is never touched)."""
    proto = ir.serde.serialize_model(model)
    for value in proto.graph.input:
        if input_shapes and value.name in input_shapes:
            dims = value.type.tensor_type.shape.dim
            del dims[:]
            for size in input_shapes[value.name]:
                dims.add().dim_value = int(size)
    try:
        proto = onnx.shape_inference.infer_shapes(proto, data_prop=True)
    except Exception as exc:  # onnx raises on graphs it cannot type; shapes then stay unknown
        logger.info("shape inference failed: %s", exc)
    graph = proto.graph
    shapes: dict[str, tuple[int, ...]] = {}
    for info in [*graph.input, *graph.value_info, *graph.output]:
        tensor = info.type.tensor_type
        if tensor.HasField("shape") and all(d.HasField("dim_value") for d in tensor.shape.dim):
            shapes[info.name] = tuple(int(d.dim_value) for d in tensor.shape.dim)
    return shapes


def build_net(
    model: ir.Model, input_shapes: Mapping[str, tuple[int, ...]] | None = None
) -> CaffeNetResult:
    """Map every node of ``model`` to Caffe layers; Unsupported names the first node that has
    none (exit 1), in words the user can act on."""
    opset = _opset(model)
    graph = model.graph
    name = graph.name or "nnport"
    net = CaffeNet(name)
    net.shapes = _static_shapes(model, input_shapes)
    initializers = set(graph.initializers)
    inputs: dict[str, tuple[int, ...]] = {}
    for value in graph.inputs:
        if value.name in initializers:
            continue
        dims = net.shapes.get(value.name or "")
        if dims is None:
            raise Unsupported(
                f"input {value.name!r} has dynamic shape {value.shape}; Caffe needs static shapes",
                hint="give --input-shape NAME:1x3xHxW",
            )
        inputs[value.name or ""] = dims
        net.net.input.append(value.name or "")
        net.net.input_shape.add().dim.extend(dims)
    table: list[LayerMap] = []
    for node in graph:
        if node.domain not in ("", "ai.onnx"):
            raise Unsupported(
                f"node {node_label(node)} of domain {node.domain!r} has no Caffe layer"
            )
        if node.op_type == "Constant":
            continue
        emit = EMITTERS.get(node.op_type)
        if emit is None:
            raise Unsupported(
                f"node {node_label(node)}: {node.op_type} has no layer in the NNIE mapper's "
                "Caffe dialect",
                hint="run `nnport fix -t nnie` to rewrite it into layers NNIE has",
            )
        before = len(net.net.layer)
        try:
            emit(net, node, opset)
        except Unsupported:
            raise
        except (KeyError, IndexError, ValueError, TypeError, AttributeError) as exc:
            raise Unsupported(f"node {node_label(node)} could not be mapped: {exc}") from exc
        made = net.net.layer[before:]
        table.append(LayerMap(node.name or "", node.op_type,
                              tuple(layer.name for layer in made),
                              tuple(layer.type for layer in made)))  # fmt: skip
    outputs: dict[str, str] = {}
    for value in graph.outputs:
        blob = net.blob(value)
        producer = next((layer for layer in net.net.layer if blob in layer.top), None)
        if blob != value.name or producer is None:  # an input or an alias: copy it out
            producer = net.layer(value.name or "", "Power", [blob], [value.name or ""])
        elif list(producer.top).index(blob) != 0:
            # OpenCV addresses a layer's outputs by layer name (first top): copy it out.
            producer = net.layer(f"{blob}/out", "Power", [blob], [f"{blob}/out"])
        outputs[value.name or ""] = producer.name
    weights = net.weights.SerializeToString()
    text = f"# written by nnport from {name}\n" + text_format.MessageToString(net.net)
    return CaffeNetResult(text, weights, inputs, outputs, tuple(table), tuple(net.notes))


def write_caffe(
    result: CaffeNetResult, out_dir: Path, extra: Mapping[str, str] | None = None
) -> list[Path]:
    """Write the net (and ``extra`` text files by name) into ``out_dir`` atomically."""
    out = Path(out_dir)
    try:
        with staging_dir(out) as tmp:
            (tmp / CAFFEMODEL).write_bytes(result.caffemodel)
            for file_name, content in (extra or {}).items():
                (tmp / file_name).write_text(content, encoding="utf-8")
            (tmp / PROTOTXT).write_text(result.prototxt, encoding="utf-8")
    except OSError as exc:
        raise BackendError(f"could not write the Caffe model into {out}: {exc}") from exc
    return [out / PROTOTXT, out / CAFFEMODEL, *(out / n for n in (extra or {}))]


@dataclass(frozen=True)
class CaffeConversion:
    """What ``convert --to caffe`` wrote: files, the node → layer table, the mapper's config."""

    prototxt: Path
    caffemodel: Path
    files: tuple[Path, ...]
    layers: tuple[LayerMap, ...]
    notes: tuple[str, ...]
    mapper: MapperConfig


def convert_to_caffe(
    model: ir.Model,
    out_dir: str | Path,
    *,
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
    calibrate: Path | None = None,
    precision: str = "int8",
) -> CaffeConversion:
    """Write model.prototxt, model.caffemodel, nnie_mapper.cfg (and image_list.txt, mean.txt)
    into ``out_dir``; nothing is written unless every node maps to Caffe layers."""
    result = build_net(model, input_shapes)
    mapper, extra = mapper_files(model, result.inputs, calibrate=calibrate, precision=precision)
    files = write_caffe(result, Path(out_dir), extra)
    return CaffeConversion(files[0], files[1], tuple(files), result.layers,
                           result.notes + mapper.notes, mapper)  # fmt: skip
