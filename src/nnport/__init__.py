"""nnport: take a trained model to a verified deployment on a chosen target.

The public API mirrors the command line: ``load`` and ``inspect`` here, and ``check``, ``fix``,
``compare``, ``bench`` and the rest from their rooms. The model functions are imported on first
use, so the command line starts without loading onnx.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# nnport sends nothing anywhere: ONNX Runtime (1.2x+) writes a telemetry device id under
# ~/.cache/Microsoft/DeveloperTools on import unless this is set before it loads. OpenVINO's
# telemetry is turned off where OpenVINO is imported (nnport.backends.openvino).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from nnport.errors import NnportError

if TYPE_CHECKING:
    from nnport.model import Summary, inspect, load, save

__all__ = ["NnportError", "Summary", "__version__", "inspect", "load", "save"]


def __getattr__(name: str) -> Any:
    if name in ("Summary", "inspect", "load", "save"):
        import nnport.model

        return getattr(nnport.model, name)
    raise AttributeError(f"module 'nnport' has no attribute {name!r}")
