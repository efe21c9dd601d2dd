"""External data: confine it to the model's folder on load, and find, resolve or inline it after."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import onnx
import onnx_ir as ir

from nnport.errors import ModelLoadError

_HINT = "external data must live beside the model file"


def _iter_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
    for node in graph.node:
        yield from _iter_attribute_tensors(node.attribute)


def _iter_attribute_tensors(
    attributes: Iterable[onnx.AttributeProto],
) -> Iterator[onnx.TensorProto]:
    for attr in attributes:
        if attr.HasField("t"):
            yield attr.t
        yield from attr.tensors
        if attr.HasField("g"):
            yield from _iter_tensors(attr.g)
        for sub in attr.graphs:
            yield from _iter_tensors(sub)


def all_tensors(proto: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """Every TensorProto of a model: initializers and attributes, subgraphs and functions."""
    yield from _iter_tensors(proto.graph)
    for function in proto.functions:
        for node in function.node:
            yield from _iter_attribute_tensors(node.attribute)


def _whole_number(where: str, key: str, text: str) -> int:
    """An external-data offset or length: a non-negative integer written in decimal."""
    if not text.isdigit():  # int() would also take "+1", " 1", "1_0" and "١"
        raise ModelLoadError(
            f"{where}: its {key} {text[:40]!r} is not a non-negative integer",
            hint="the model file is corrupt; re-export it",
        )
    return int(text)


def _tensor_bytes(tensor: onnx.TensorProto) -> int | None:
    """Bytes the tensor's dims and dtype need (None for strings and unknown dtypes)."""
    try:
        bits = ir.DataType(tensor.data_type).bitwidth
    except (TypeError, ValueError):
        return None
    count = 1
    for dim in tensor.dims:
        count *= dim
    return (count * bits + 7) // 8


def check_external_data(proto: onnx.ModelProto, base_dir: Path) -> list[Path]:
    """Refuse external data that escapes ``base_dir``, is missing, malformed or shorter than its
    tensor; return the files used."""
    root = base_dir.resolve()
    files: dict[Path, int] = {}
    for tensor in all_tensors(proto):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        location = info.get("location", "")
        where = f"tensor {tensor.name!r} stores its data in {location!r}"
        if not location:
            raise ModelLoadError(f"{where}: external data without a location")
        rel = Path(location)
        if rel.is_absolute() or location.startswith(("/", "\\")) or ":" in location:
            raise ModelLoadError(
                f"{where}, an absolute path; refusing to read outside the model's folder",
                hint=_HINT,
            )
        if any(part == ".." for part in Path(location.replace("\\", "/")).parts):
            raise ModelLoadError(
                f"{where}, which escapes the model's folder with '..'; refusing to read it",
                hint=_HINT,
            )
        if "\0" in location:
            raise ModelLoadError(f"{where}: the location holds a NUL byte", hint=_HINT)
        full = (root / rel).resolve()
        if root != full and root not in full.parents:
            raise ModelLoadError(
                f"{where}, a link that points outside the model's folder; refusing to read it",
                hint="copy the data file next to the model instead of linking it",
            )
        if not full.is_file():
            raise ModelLoadError(
                f"{where}, which does not exist in {root}",
                hint="copy the external data file next to the model",
            )
        size = files.setdefault(full, full.stat().st_size)
        offset = _whole_number(where, "offset", info.get("offset", "0") or "0")
        needed = _tensor_bytes(tensor)
        length = info.get("length")
        span = _whole_number(where, "length", length) if length is not None else needed
        if span is None:
            continue
        if needed is not None and span != needed:
            raise ModelLoadError(
                f"{where} with length {span}, but its shape and dtype take {needed} bytes",
                hint="the model file is corrupt; re-export it",
            )
        if offset + span > size:
            raise ModelLoadError(
                f"{where} at bytes {offset}..{offset + span}, "
                f"but the file has only {size} bytes (truncated?)"
            )
    return sorted(files)


def external_tensors(model: ir.Model) -> Iterator[ir.ExternalTensor]:
    """Every tensor of ``model`` whose bytes still live in a file: initializers and tensor
    attributes, in subgraphs and functions too."""
    for graph in (*model.graphs(), *model.functions.values()):
        if isinstance(graph, ir.Graph):
            for value in graph.initializers.values():
                if isinstance(value.const_value, ir.ExternalTensor):
                    yield value.const_value
        for node in graph:
            for attr in node.attributes.values():
                if attr.is_ref():
                    continue
                if attr.type == ir.AttributeType.TENSOR:
                    tensors = [attr.value]
                elif attr.type == ir.AttributeType.TENSORS:
                    tensors = list(attr.value)
                else:
                    continue
                yield from (t for t in tensors if isinstance(t, ir.ExternalTensor))


def data_files(model: ir.Model) -> list[Path]:
    """The files ``model`` reads its external data from, resolved."""
    return sorted({Path(os.path.realpath(t.path)) for t in external_tensors(model)})


def data_folder(model: ir.Model) -> Path | None:
    """The one folder every external tensor of ``model`` is relative to, or None when the model
    has no external data or its tensors come from several folders."""
    folders = {os.path.realpath(t.base_dir or ".") for t in external_tensors(model)}
    return Path(folders.pop()) if len(folders) == 1 else None


def _in_memory(tensor: ir.ExternalTensor) -> ir.Tensor:
    """The tensor's bytes read into memory (nothing of the file is kept)."""
    return ir.Tensor(tensor.numpy().copy(), dtype=tensor.dtype, name=tensor.name)


def inline_external(model: ir.Model, *, keep_main: bool = False) -> ir.Model:
    """A clone of ``model`` whose external tensors are read into memory (``model`` itself is
    untouched; other tensors are shared). With ``keep_main``, main-graph initializers stay
    external (a writer streams those itself). Returns ``model`` itself when nothing is external.
    """
    if not has_external(model):
        return model
    clone = model.clone()
    for graph in (*clone.graphs(), *clone.functions.values()):
        if isinstance(graph, ir.Graph) and not (keep_main and graph is clone.graph):
            for value in graph.initializers.values():
                if isinstance(value.const_value, ir.ExternalTensor):
                    value.const_value = _in_memory(value.const_value)
        for node in graph:
            for name, attr in list(node.attributes.items()):
                if attr.is_ref():
                    continue
                if attr.type == ir.AttributeType.TENSOR and isinstance(
                    attr.value, ir.ExternalTensor
                ):
                    node.attributes[name] = ir.AttrTensor(name, _in_memory(attr.value))
                elif attr.type == ir.AttributeType.TENSORS and any(
                    isinstance(t, ir.ExternalTensor) for t in attr.value
                ):
                    tensors = [
                        _in_memory(t) if isinstance(t, ir.ExternalTensor) else t for t in attr.value
                    ]
                    node.attributes[name] = ir.AttrTensors(name, tensors)
    return clone


def for_runtime(model: ir.Model) -> tuple[ir.Model, Path | None]:
    """What to serialize for a runtime that reads a model from bytes, and the folder its
    external data is relative to (None: no external data). A runtime must be told that folder
    (ONNX Runtime's ``session.model_external_initializers_file_folder_path``); without it, it
    would resolve the data against the working directory. Tensors from several folders are
    read into memory instead."""
    if not has_external(model):
        return model, None
    folder = data_folder(model)
    return (model, folder) if folder is not None else (inline_external(model), None)


def has_external(model: ir.Model) -> bool:
    """Whether any tensor of ``model`` still lives in an external data file."""
    return any(True for _ in external_tensors(model))


def keep_data_folder(model: ir.Model, source: ir.Model) -> ir.Model:
    """Point the external tensors of ``model``, read back from a serialized copy of ``source``
    (serializing drops where the data lives), at ``source``'s data folder; returns ``model``."""
    folder = data_folder(source)
    if folder is not None:
        for tensor in external_tensors(model):
            tensor.base_dir = str(folder)
    return model
