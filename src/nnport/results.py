"""Results as data: convert frozen dataclasses to JSON-able dicts and back."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def to_jsonable(value: Any) -> Any:
    """Turn dataclasses, enums, tuples, numpy scalars and non-finite floats into JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "shape", None) == ():
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def dumps(value: Any, *, indent: int | None = 2) -> str:
    """Serialize a result dataclass (or plain data) to a JSON string."""
    return json.dumps(to_jsonable(value), indent=indent, sort_keys=False)


def _from(tp: Any, data: Any) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any or data is None:
        return data
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        for arg in non_none:
            try:
                return _from(arg, data)
            except (TypeError, ValueError, KeyError):
                continue
        return data
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_jsonable(tp, data)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(data)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from(args[0], v) for v in data)
        return tuple(_from(a, v) for a, v in zip(args, data, strict=False))
    if origin is list:
        return [_from(args[0], v) for v in data]
    if origin is dict:
        return {k: _from(args[1], v) for k, v in data.items()}
    if tp is float:
        if isinstance(data, str):
            return float(data)
        if not isinstance(data, (int, float)):
            raise TypeError(f"expected a number, got {data!r}")
        return float(data)
    if tp is int and not isinstance(data, int):
        raise TypeError(f"expected an integer, got {data!r}")
    if tp is str and not isinstance(data, str):
        raise TypeError(f"expected a string, got {data!r}")
    return data


def from_jsonable(cls: type[T], data: dict[str, Any]) -> T:
    """Rebuild a dataclass of type ``cls`` from the dict ``to_jsonable`` produced."""
    hints = typing.get_type_hints(cls)
    kwargs = {
        f.name: _from(hints[f.name], data[f.name])
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.name in data
    }
    return cls(**kwargs)


def loads(cls: type[T], text: str) -> T:
    """Parse JSON text produced by ``dumps`` back into ``cls``."""
    return from_jsonable(cls, json.loads(text))
