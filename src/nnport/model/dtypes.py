"""Names for ONNX element types, shared by every room (numpy-style strings such as 'float32')."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

_SPECIAL = {ir.DataType.BFLOAT16: "bfloat16", ir.DataType.STRING: "string"}


def dtype_name(dtype: ir.DataType | None) -> str:
    """A readable name ('float32', 'int64', 'bool', ...) for an onnx-ir data type."""
    if dtype is None:
        return "unknown"
    if dtype in _SPECIAL:
        return _SPECIAL[dtype]
    try:
        return str(np.dtype(dtype.numpy()).name)
    except (TypeError, ValueError, AttributeError):
        return dtype.name.lower()


def from_name(name: str) -> ir.DataType:
    """The onnx-ir data type for a name produced by ``dtype_name`` (or an ONNX enum name)."""
    for dtype in ir.DataType:
        if dtype == ir.DataType.UNDEFINED:
            continue
        if dtype_name(dtype) == name or dtype.name.lower() == name.lower():
            return dtype
    raise ValueError(f"unknown data type {name!r}")


def to_numpy(dtype: ir.DataType) -> np.dtype:
    """The numpy dtype for an onnx-ir data type."""
    return np.dtype(dtype.numpy())


def valid_dtype(name: str) -> str | None:
    """The canonical dtype name of ``name`` (numpy's or ONNX's), or None for non-tensor types."""
    if not name or name in ("sequence", "optional", "map", "sparse_tensor"):
        return None
    if name == "object":  # numpy's name for ONNX string tensors
        return "string"
    try:
        return dtype_name(from_name(name))
    except ValueError:
        return None
