"""The model room: safe load and save, input specs, dtype names and the model summary."""

from nnport.model.io import load, save
from nnport.model.specs import InputSpec, TensorInfo, parse_input_shape, resolve_input_shapes
from nnport.model.summary import Summary, inspect

__all__ = [
    "InputSpec",
    "Summary",
    "TensorInfo",
    "inspect",
    "load",
    "parse_input_shape",
    "resolve_input_shapes",
    "save",
]
