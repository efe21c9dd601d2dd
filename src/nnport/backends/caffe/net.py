"""The Caffe net being built: layers (prototxt), their weight blobs (caffemodel), blob names."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx_ir as ir

from nnport.backends.caffe import nnport_caffe_pb2 as pb
from nnport.errors import BackendError
from nnport.model.graphs import constant_tensor


class Unsupported(BackendError):
    """An ONNX node has no Caffe layer in the NNIE mapper's dialect (the message names it)."""


class CaffeNet:
    """Layers in topological order, with their blobs kept apart for ``model.caffemodel``.

    Blob names are the ONNX tensor names, and the last layer a node becomes is named after
    the tensor it writes, so Caffe blobs map back to ONNX tensors (compare, bisect).
    """

    def __init__(self, name: str) -> None:
        self.net = pb.NetParameter(name=name)
        self.weights = pb.NetParameter(name=name)
        self.alias: dict[str, str] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.notes: list[str] = []
        self._names: set[str] = set()

    # -- blobs -------------------------------------------------------------------------------
    def blob(self, value: ir.Value | None) -> str:
        """The Caffe blob holding ``value`` (an ONNX tensor)."""
        if value is None:
            raise BackendError("an optional input is missing where a tensor is needed")
        return self.alias.get(value.name or "", value.name or "")

    def shape(self, value: ir.Value | None, node: ir.Node) -> tuple[int, ...]:
        """The static shape of ``value``; a clear error naming ``node`` when it is unknown."""
        if value is not None:
            known = self.shapes.get(value.name or "")
            if known is not None:
                return known
            shape = value.shape
            if shape is not None and all(isinstance(d, int) for d in shape):
                return tuple(int(d) for d in shape)  # type: ignore[arg-type]
        raise Unsupported(
            f"node {node_label(node)}: the shape of {value.name if value else '?'!r} is not "
            "static; Caffe needs static shapes",
            hint="give --input-shape, or run `nnport fix -t nnie` first",
        )

    # -- layers ------------------------------------------------------------------------------
    def unique(self, name: str) -> str:
        """``name``, suffixed when a layer of that name exists already."""
        candidate, index = name, 1
        while candidate in self._names:
            candidate = f"{name}_{index}"
            index += 1
        self._names.add(candidate)
        return candidate

    def layer(
        self,
        name: str,
        kind: str,
        bottoms: Sequence[str],
        tops: Sequence[str],
        blobs: Sequence[np.ndarray] = (),
    ) -> pb.LayerParameter:
        """Append a layer (name made unique) and its weight blobs; return it to set params."""
        layer = self.net.layer.add()
        layer.name = self.unique(name)
        layer.type = kind
        layer.bottom.extend(bottoms)
        layer.top.extend(tops)
        if blobs:
            weights = self.weights.layer.add()
            weights.name = layer.name
            weights.type = kind
            for array in blobs:
                blob = weights.blobs.add()
                data = np.ascontiguousarray(array, dtype=np.float32)
                blob.shape.dim.extend(int(d) for d in data.shape)
                blob.data.extend(data.ravel().tolist())
        return layer


def node_label(node: ir.Node) -> str:
    """How errors name a node: its name and op."""
    return f"{node.name or '<unnamed>'!r} ({node.op_type})"


def const(value: ir.Value | None) -> np.ndarray | None:
    """The constant array of an initializer or Constant output, else None."""
    tensor = constant_tensor(value)
    if tensor is None and value is not None:
        producer = value.producer()
        if producer is not None and producer.op_type == "Identity" and producer.domain == "":
            return const(producer.inputs[0])  # exporters wrap shared weights in Identity
    return None if tensor is None else np.asarray(tensor.numpy())


def need_const(value: ir.Value | None, node: ir.Node, what: str) -> np.ndarray:
    """A constant input ``what`` of ``node``, or an error naming both."""
    array = const(value)
    if array is None:
        raise Unsupported(
            f"node {node_label(node)}: its {what} is computed at run time; a Caffe layer takes "
            "it only as a constant parameter",
            hint="run `nnport fix -t nnie` to fold constants first",
        )
    return array
