"""Refuse what onnx's checker lets through and later code cannot handle: names that are not
UTF-8, UNDEFINED element types, negative dimensions and shapes too large to exist."""

from __future__ import annotations

from collections.abc import Iterator

import onnx
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from nnport.errors import ModelLoadError

# No tensor nnport could feed, hold or write is this large (256 GiB); a declared shape beyond it
# is corrupt (a dimension of 1e12, say), and treating it as real only fails later, deep inside.
MAX_TENSOR_BYTES = 1 << 38

_STRING = FieldDescriptor.TYPE_STRING
_MESSAGE = FieldDescriptor.TYPE_MESSAGE
_REPEATED = getattr(FieldDescriptor, "LABEL_REPEATED", 3)
_HINT = "the model file is corrupt; re-export it"


def _is_repeated(field: FieldDescriptor) -> bool:
    flag = getattr(field, "is_repeated", None)  # protobuf >= 5.29; label is deprecated
    return bool(flag) if flag is not None else field.label == _REPEATED


# Per message type: its string fields and message fields, each as (name, repeated), read from
# the descriptor once (ListFields per message costs 3x more on a 20,000-node graph).
_Layout = tuple[tuple[tuple[str, bool], ...], tuple[tuple[str, bool], ...]]
_LAYOUTS: dict[str, _Layout] = {}


def _layout(message: Message) -> _Layout:
    descriptor = message.DESCRIPTOR
    found = _LAYOUTS.get(descriptor.full_name)
    if found is None:
        fields = descriptor.fields
        found = (
            tuple((f.name, _is_repeated(f)) for f in fields if f.type == _STRING),
            tuple((f.name, _is_repeated(f)) for f in fields if f.type == _MESSAGE),
        )
        _LAYOUTS[descriptor.full_name] = found
    return found


def _messages(message: Message) -> Iterator[tuple[Message, str | None]]:
    """``message`` and every message inside it, depth first (tensor payloads are not messages,
    so weights are never walked), each with the name of a string field that is not UTF-8."""
    stack = [message]
    while stack:
        current = stack.pop()
        strings, children = _layout(current)
        bad = None
        for name, repeated in strings:
            value = getattr(current, name)
            # The protobuf runtime hands back bytes, not str, for a proto2 string that is not
            # UTF-8.
            if any(type(v) is not str for v in value) if repeated else type(value) is not str:
                bad = name
                break
        yield current, bad
        for name, repeated in children:
            if repeated:
                stack.extend(getattr(current, name))
            elif current.HasField(name):
                stack.append(getattr(current, name))


def _shape_bytes(tensor_type: onnx.TypeProto.Tensor) -> int:
    try:
        itemsize = max(1, onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type).itemsize)
    except (KeyError, TypeError, ValueError):
        itemsize = 1
    count = 1
    for dim in tensor_type.shape.dim:
        if dim.HasField("dim_value"):
            count *= dim.dim_value
    return count * itemsize


def check_proto(proto: onnx.ModelProto, path: object) -> None:
    """Raise ModelLoadError, naming the place, for the defects the module docstring lists."""
    graphs: list[onnx.GraphProto] = []
    for message, field in _messages(proto):
        if field is not None:
            kind = type(message).__name__.removesuffix("Proto").lower()
            raise ModelLoadError(
                f"{path}: a {kind}'s {field} is not valid UTF-8 text (a corrupt or hand-edited "
                "file)",
                hint=_HINT,
            )
        if isinstance(message, onnx.TensorProto):
            _check_tensor(message, path)
        elif isinstance(message, onnx.GraphProto):
            graphs.append(message)
    # Graph inputs and outputs (of subgraphs too); intermediate value_info is only a hint that
    # some exporters fill loosely, so it is left to shape inference.
    for graph in graphs:
        for value in (*graph.input, *graph.output):
            if value.type.HasField("tensor_type"):
                _check_tensor_type(value.type.tensor_type, f"value {value.name!r}", path)


def _check_tensor(tensor: onnx.TensorProto, path: object) -> None:
    where = f"{path}: tensor {tensor.name!r}"
    if tensor.data_type == onnx.TensorProto.UNDEFINED:
        raise ModelLoadError(f"{where} has element type UNDEFINED", hint=_HINT)
    if any(d < 0 for d in tensor.dims):
        raise ModelLoadError(f"{where} has a negative dimension {list(tensor.dims)}", hint=_HINT)


def _check_tensor_type(tensor_type: onnx.TypeProto.Tensor, what: str, path: object) -> None:
    where = f"{path}: {what}"
    if tensor_type.elem_type == onnx.TensorProto.UNDEFINED:
        raise ModelLoadError(f"{where} has element type UNDEFINED", hint=_HINT)
    if not tensor_type.HasField("shape"):
        return
    dims = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in tensor_type.shape.dim]
    if any(isinstance(d, int) and d < 0 for d in dims):
        raise ModelLoadError(
            f"{where} declares a negative dimension {dims}",
            hint="a dynamic dimension is written as a name, not a negative number",
        )
    if _shape_bytes(tensor_type) > MAX_TENSOR_BYTES:
        raise ModelLoadError(
            f"{where} declares shape {dims}, over {MAX_TENSOR_BYTES >> 30} GiB: no such tensor "
            "can exist",
            hint=_HINT,
        )
