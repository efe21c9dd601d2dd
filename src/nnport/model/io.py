"""Load and save ONNX models safely: clear errors for bad files, no unsafe external data, atomic writes."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import onnx
import onnx_ir as ir
from google.protobuf.message import DecodeError

from nnport.errors import ModelLoadError, ModelSaveError, NnportError
from nnport.model.atomic import atomic_path, temp_dir, umask_mode
from nnport.model.external import check_external_data, data_files, inline_external
from nnport.model.validate import check_proto

__all__ = [
    "EXTERNAL_DATA_THRESHOLD", "SOURCE_PATH_KEY", "atomic_path", "check_external_data",
    "check_output_path", "load", "load_proto", "read_files", "save", "weight_bytes",
]  # fmt: skip

logger = logging.getLogger(__name__)

SOURCE_PATH_KEY = "nnport.source_path"
# ONNX protobufs cannot exceed 2 GiB; above this many bytes of weights we write external data.
EXTERNAL_DATA_THRESHOLD = 1_800_000_000


def _parse(path: Path) -> onnx.ModelProto:
    return _parse_bytes(path)[0]


def _parse_bytes(path: Path) -> tuple[onnx.ModelProto, bytes]:
    """The parsed model and the file's bytes (so validation need not read the file again)."""
    if not path.exists():
        raise ModelLoadError(f"no such file: {path}")
    if not path.is_file():
        raise ModelLoadError(f"{path} is not a file")
    size = path.stat().st_size
    if size == 0:
        raise ModelLoadError(f"{path} is empty (0 bytes), not an ONNX model")
    proto = onnx.ModelProto()
    data = path.read_bytes()
    try:
        proto.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise ModelLoadError(
            f"{path} is not a valid ONNX model: the protobuf does not decode "
            f"({str(exc).splitlines()[0] if str(exc) else 'corrupt or truncated'})",
            hint="re-export or re-download the file",
        ) from exc
    if proto.ir_version <= 0 or not proto.HasField("graph") or not proto.opset_import:
        raise ModelLoadError(
            f"{path} is not an ONNX model (no IR version, graph or opset imports; "
            "the file may be truncated or of another format)"
        )
    return proto, data


def _utf8(path: Path) -> bool:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:  # surrogates standing for the name's undecodable bytes
        return False
    return True


def _validate(path: Path, data: bytes | None = None) -> None:
    try:
        # The checker takes the bytes already read (10x faster than by path for a 100 MB model);
        # by path when weights live in external data it must resolve beside the file. Checking
        # the parsed proto would first serialize it again, which is slower still.
        target: bytes | str | onnx.ModelProto = data if data is not None else str(path)
        if data is None and not _utf8(path):
            # onnx's C++ checker takes a path only as UTF-8 text: for a file name that is not,
            # check the model with its external data read in (onnx resolves it in Python).
            try:
                target = onnx.load_model(path)
            except (ValueError, OSError) as exc:  # e.g. offset "" (onnx: int(""))
                raise ModelLoadError(f"{path}: its external data cannot be read ({exc})") from exc
        onnx.checker.check_model(target, full_check=False)
    except onnx.checker.ValidationError as exc:
        first = next((line for line in str(exc).splitlines() if line.strip()), "invalid model")
        raise ModelLoadError(
            f"{path} is not a valid ONNX model: {first}",
            hint="the file may be truncated or corrupt; re-export it",
        ) from exc


def load(path: str | os.PathLike[str], *, validate: bool = True) -> ir.Model:
    """Load an ONNX model into onnx-ir, refusing corrupt files and unsafe external data."""
    path = Path(path)
    proto, data = _parse_bytes(path)
    check_proto(proto, path)
    external = check_external_data(proto, path.parent)
    if validate:
        _validate(path, None if external else data)
    del data
    try:
        model = ir.serde.deserialize_model(proto)
    except Exception as exc:  # onnx-ir raises several types on malformed graphs
        raise ModelLoadError(f"{path} could not be read as an ONNX graph: {exc}") from exc
    ir.external_data.set_base_dir(model.graph, str(path.parent))
    model.meta[SOURCE_PATH_KEY] = str(path)
    return model


def load_proto(path: str | os.PathLike[str]) -> onnx.ModelProto:
    """Parse and validate a file into a ModelProto without loading external data."""
    path = Path(path)
    proto = _parse(path)
    check_proto(proto, path)
    check_external_data(proto, path.parent)
    return proto


def weight_bytes(model: ir.Model) -> int:
    """Total bytes of all initializers, subgraphs' included."""
    return sum(
        v.const_value.nbytes
        for graph in model.graphs()
        for v in graph.initializers.values()
        if v.const_value is not None
    )


def read_files(model: ir.Model) -> list[Path]:
    """The files ``model`` was loaded from and still reads: its ONNX file and its data files."""
    source = model.meta.get(SOURCE_PATH_KEY)
    return ([Path(source)] if source else []) + data_files(model)


def _same_file(a: Path, b: Path) -> bool:
    with contextlib.suppress(OSError, ValueError):
        return a.exists() and b.exists() and os.path.samefile(a, b)
    return False


def check_output_path(path: Path, protected: Iterable[Path]) -> None:
    """Refuse an output path that is, or links to, a file an input reads."""
    path = Path(path)
    for source in protected:
        if _same_file(path, source) or path.resolve() == Path(source).resolve():
            raise ModelSaveError(
                f"refusing to overwrite {source}, which the input model reads; "
                "choose another output path"
            )


# Hand-rolled protobuf framing (see _write_model): wire type 2 (length-delimited) field tags.
_GRAPH_TAG = bytes([onnx.ModelProto.DESCRIPTOR.fields_by_name["graph"].number << 3 | 2])
_INITIALIZER_TAG = bytes([onnx.GraphProto.DESCRIPTOR.fields_by_name["initializer"].number << 3 | 2])
_RAW_DATA_TAG = bytes([onnx.TensorProto.DESCRIPTOR.fields_by_name["raw_data"].number << 3 | 2])
_STREAM_RAW_BYTES = 1 << 16
_PLACEHOLDER = "nnport-streamed-weight"  # never written: replaced by the tensor's raw_data


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


# TensorProto fields the streamed header does not rebuild: a loaded tensor with any of them set is
# serialized the ordinary way.
_OTHER_TENSOR_FIELDS = ("segment", "data_location")
_REPEATED_TENSOR_FIELDS = (
    "float_data", "int32_data", "string_data", "int64_data", "double_data", "uint64_data",
    "external_data", "metadata_props",
)  # fmt: skip


_Source = onnx.TensorProto | ir.ExternalTensor


def _loaded_tensor_header(name: str, tensor: object) -> tuple[bytes, _Source] | None:
    """For a tensor still backed by the TensorProto it was loaded from, holding only a name,
    dims, dtype, doc string and ``raw_data``, or by a file (external data): the tensor proto
    minus its data, serialized (built without copying the data), and where to take the bytes
    from when writing. Else None."""
    if isinstance(tensor, ir.ExternalTensor) and not tensor.metadata_props:
        head = onnx.TensorProto(name=name, dims=tensor.shape.numpy(), data_type=tensor.dtype)
        if tensor.doc_string:
            head.doc_string = tensor.doc_string
        return head.SerializeToString(), tensor
    if not isinstance(tensor, ir.serde.TensorProtoTensor) or tensor.metadata_props:
        return None
    raw = tensor.raw
    if tensor.nbytes < _STREAM_RAW_BYTES or raw.name != name or not raw.HasField("raw_data"):
        return None
    # Field checks, not ByteSize(): upb computes ByteSize by serializing, i.e. copying the data.
    if any(raw.HasField(f) for f in _OTHER_TENSOR_FIELDS) or any(
        len(getattr(raw, f)) for f in _REPEATED_TENSOR_FIELDS
    ):
        return None
    head = onnx.TensorProto(name=name, dims=raw.dims, data_type=raw.data_type)
    if raw.doc_string:
        head.doc_string = raw.doc_string
    return head.SerializeToString(), raw


def _write_source(f: BinaryIO, source: bytes | _Source, length: int, name: str) -> None:
    """Write one tensor's ``length`` bytes from where they are (a file is copied by the kernel)."""
    if isinstance(source, ir.ExternalTensor):
        f.flush()
        start = f.tell()
        source.tofile(f)
        written = f.tell() - start
    else:
        data = source if isinstance(source, bytes) else source.raw_data
        written = len(data)
        if written == length:
            f.write(data)
    if written != length:  # data that does not match dims and dtype
        raise ModelSaveError(
            f"tensor {name!r} holds {written} bytes of data, not the "
            f"{length} its shape and dtype need; the model is corrupt"
        )


def _write_model(model: ir.Model, path: Path) -> None:
    """Write ``model`` as one protobuf file, large raw tensor bytes straight from their buffers.

    Hand-rolled because ``SerializeToString`` of a 100 MB model costs several copies of the
    weights (0.2-0.3 s for ResNet-50): the proto is serialized without the large ``raw_data``
    fields, and the file is framed by hand (graph = field 7 of ModelProto, initializer = field 5
    of GraphProto, raw_data = field 9 of TensorProto, each a tag, a varint length and the bytes).
    Every field appears once, so any protobuf reader parses the same message ``ir.save`` writes.
    Weights still backed by the loaded file's protos or by external data files stand in as
    placeholders in a clone (the model is not touched) and are copied once, while writing, one
    tensor at a time; external tensors elsewhere (subgraphs, attributes) are read in first, so
    the file written is self-contained.
    """
    light = inline_external(model, keep_main=True)
    if light is model:
        light = model.clone()  # shares the tensors; only the clone's placeholders differ
    loaded: dict[str, tuple[bytes, _Source]] = {}
    for name, value in light.graph.initializers.items():
        tensor = value.const_value
        found = _loaded_tensor_header(name, tensor)
        if found is not None and tensor is not None:
            loaded[name] = found
            value.const_value = ir.ExternalTensor(
                _PLACEHOLDER,
                0,
                tensor.nbytes,
                tensor.dtype,
                shape=ir.Shape(tensor.shape.numpy()),
                name=name,
            )
    proto = ir.serde.serialize_model(light)
    # Per initializer: framing and header bytes, then its raw bytes (or where they are).
    chunks: list[tuple[bytes, int, bytes | _Source | None, str]] = []
    for tensor in proto.graph.initializer:
        source: bytes | _Source | None = None
        length = 0
        if tensor.name in loaded and tensor.data_location == onnx.TensorProto.EXTERNAL:
            head, source = loaded[tensor.name]
            length = int(dict((e.key, e.value) for e in tensor.external_data)["length"])
        elif tensor.HasField("raw_data") and tensor.ByteSize() >= _STREAM_RAW_BYTES:
            raw: bytes = tensor.raw_data  # a tensor the passes built (numpy-backed), copied
            source, length = raw, len(raw)
            tensor.ClearField("raw_data")
            head = tensor.SerializeToString()
        else:
            head = tensor.SerializeToString()
        if source is not None:
            head += _RAW_DATA_TAG + _varint(length)
        prefix = _INITIALIZER_TAG + _varint(len(head) + length) + head
        chunks.append((prefix, length, source, tensor.name))
    del proto.graph.initializer[:]
    graph = proto.graph.SerializeToString()
    proto.ClearField("graph")
    with open(path, "wb") as f:
        f.write(proto.SerializeToString())
        f.write(_GRAPH_TAG + _varint(len(graph) + sum(len(c[0]) + c[1] for c in chunks)))
        f.write(graph)
        for prefix, length, source, name in chunks:
            f.write(prefix)
            if source is not None:
                _write_source(f, source, length, name)


def save(model: ir.Model, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` atomically (temporary files, then renames), self-contained: weights
    inline, or above ``EXTERNAL_DATA_THRESHOLD`` in ``PATH.data`` beside it, never in the
    files the model was read from, which are never overwritten."""
    path = Path(path)
    protected = read_files(model)
    check_output_path(path, protected)
    if not path.parent.is_dir():
        raise ModelSaveError(f"output folder {path.parent} does not exist")
    if path.is_dir():
        raise ModelSaveError(f"{path} is a folder; give the output model a file name")
    external = weight_bytes(model) > EXTERNAL_DATA_THRESHOLD
    data_name = f"{path.name}.data"
    if external:
        check_output_path(path.parent / data_name, protected)
    try:
        tmp_dir = temp_dir(path.parent, "save")
    except OSError as exc:
        raise ModelSaveError(f"cannot write into {path.parent}: {exc.strerror or exc}") from exc
    try:
        tmp_path = tmp_dir / path.name
        written = [tmp_path]
        try:
            if external:
                ir.save(inline_external(model, keep_main=True), tmp_path, external_data=data_name)
                written.insert(0, tmp_dir / data_name)
            else:
                _write_model(model, tmp_path)
            for item in written:  # plain files, as the umask makes them
                os.chmod(item, umask_mode())
        except NnportError:
            raise
        except Exception as exc:
            raise ModelSaveError(f"could not write {path}: {exc}") from exc
        # The data file first, the model last: the model never names data not yet in place.
        for item in written:
            os.replace(item, path.parent / item.name)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    logger.info("wrote %s", path)
    return path
