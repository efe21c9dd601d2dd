"""The model room: safe load and save, input specs, dtype names and the model summary.

Names are imported on first use (PEP 562), so ``import nnport`` and ``nnport --help`` do not
pay for onnx and onnx-ir until a model is touched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nnport.model.io import load, save
    from nnport.model.specs import (
        InputSpec,
        TensorInfo,
        parse_input_shape,
        resolve_input_shapes,
    )
    from nnport.model.summary import Summary, inspect

_WHERE = {
    "load": "io", "save": "io", "InputSpec": "specs", "TensorInfo": "specs",
    "parse_input_shape": "specs", "resolve_input_shapes": "specs", "Summary": "summary",
    "inspect": "summary",
}  # fmt: skip

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


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'nnport.model' has no attribute {name!r}")
    return getattr(importlib.import_module(f"nnport.model.{_WHERE[name]}"), name)
