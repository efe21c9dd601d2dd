"""Input specs: parse ``NAME:1x3x224x224`` and describe graph inputs and outputs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import onnx_ir as ir

from nnport.errors import InputSpecError
from nnport.model.dtypes import dtype_name

Dim = int | str | None


@dataclass(frozen=True)
class TensorInfo:
    """A graph input or output: name, element type and shape (symbolic or unknown dims kept)."""

    name: str
    dtype: str
    shape: tuple[Dim, ...] | None
    dynamic: bool

    def shape_text(self) -> str:
        """The shape as text: ``[N,3,224,224]``, with '?' for unknown dims."""
        if self.shape is None:
            return "unknown rank"
        return "[" + ",".join("?" if d is None else str(d) for d in self.shape) + "]"


def describe_value(value: ir.Value) -> TensorInfo:
    """Build a TensorInfo from an onnx-ir value."""
    shape: tuple[Dim, ...] | None = None
    dynamic = True
    if value.shape is not None:
        dims: list[Dim] = []
        for dim in value.shape:
            if isinstance(dim, int):
                dims.append(dim)
            else:
                dims.append(dim.value if dim.value else None)
        shape = tuple(dims)
        dynamic = not all(isinstance(d, int) for d in dims)
    return TensorInfo(value.name or "", dtype_name(value.dtype), shape, dynamic)


@dataclass(frozen=True)
class InputSpec:
    """One parsed ``--input-shape``: an input name (None when the model has one input) and dims."""

    name: str | None
    shape: tuple[int, ...]


_DIMS = re.compile(r"^\d+([x,]\d+)*$")


def parse_input_shape(text: str) -> InputSpec:
    """Parse ``NAME:1x3x224x224``, ``NAME:1,3,224,224`` or a bare ``1x3x224x224``."""
    raw = text.strip()
    name: str | None = None
    dims_text = raw
    if ":" in raw:
        name, _, dims_text = raw.rpartition(":")
        name = name.strip()
        if not name:
            raise InputSpecError(f"input shape {text!r} has an empty input name")
    dims_text = dims_text.strip().replace(" ", "").strip("[]()")
    if not dims_text or not _DIMS.match(dims_text.lower()):
        raise InputSpecError(
            f"cannot parse input shape {text!r}",
            hint="use NAME:1x3x224x224 or NAME:1,3,224,224 with positive integer dims",
        )
    shape = tuple(int(d) for d in re.split(r"[x,]", dims_text.lower()))
    if any(d <= 0 for d in shape):
        raise InputSpecError(f"input shape {text!r} has a zero dimension; dims must be >= 1")
    return InputSpec(name, shape)


def parse_input_shapes(texts: Iterable[str]) -> list[InputSpec]:
    """Parse several ``--input-shape`` values."""
    return [parse_input_shape(t) for t in texts]


def graph_inputs(model: ir.Model) -> list[ir.Value]:
    """The model's real inputs (graph inputs that are not also initializers)."""
    return [v for v in model.graph.inputs if v.name not in model.graph.initializers]


def resolve_input_shapes(model: ir.Model, specs: Iterable[InputSpec]) -> dict[str, tuple[int, ...]]:
    """Match specs to graph inputs, checking names, ranks and static dims; return name -> shape."""
    inputs = {v.name: v for v in graph_inputs(model) if v.name}
    resolved: dict[str, tuple[int, ...]] = {}
    for spec in specs:
        name = spec.name
        if name is None:
            if len(inputs) != 1:
                raise InputSpecError(
                    f"the model has {len(inputs)} inputs; name the one the shape is for",
                    hint=f"inputs: {', '.join(inputs)}",
                )
            name = next(iter(inputs))
        if name not in inputs:
            raise InputSpecError(
                f"the model has no input named {name!r}", hint=f"inputs: {', '.join(inputs)}"
            )
        if name in resolved:
            raise InputSpecError(f"input {name!r} is given two shapes")
        value = inputs[name]
        if value.shape is not None:
            if len(value.shape) != len(spec.shape):
                raise InputSpecError(
                    f"input {name!r} has rank {len(value.shape)} but the shape given has "
                    f"{len(spec.shape)} dims ({'x'.join(map(str, spec.shape))})"
                )
            for axis, (dim, want) in enumerate(zip(value.shape, spec.shape, strict=True)):
                if isinstance(dim, int) and dim != want:
                    raise InputSpecError(
                        f"input {name!r} has a fixed size {dim} on axis {axis}, "
                        f"but the shape given asks for {want}"
                    )
        resolved[name] = spec.shape
    return resolved


def static_input_shapes(
    model: ir.Model, overrides: Mapping[str, tuple[int, ...]] | None = None
) -> dict[str, tuple[int, ...]]:
    """Every input's concrete shape: overrides first, else the static shape, else an error."""
    overrides = dict(overrides or {})
    shapes: dict[str, tuple[int, ...]] = {}
    for value in graph_inputs(model):
        name = value.name or ""
        if name in overrides:
            shapes[name] = overrides[name]
            continue
        info = describe_value(value)
        if info.shape is None or info.dynamic:
            raise InputSpecError(
                f"input {name!r} has a dynamic shape {info.shape_text()}",
                hint=f"give one with --input-shape {name}:"
                + "x".join(str(d) if isinstance(d, int) else "N" for d in info.shape or ()),
            )
        shapes[name] = tuple(int(d) for d in info.shape if isinstance(d, int))
    return shapes
