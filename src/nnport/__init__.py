"""nnport: take a trained model to a verified deployment on a chosen target.

The public API mirrors the command line: ``load`` and ``inspect`` here, and ``check``, ``fix``,
``compare``, ``bench`` and the rest from their rooms.
"""

from __future__ import annotations

__version__ = "0.1.0"

from nnport.errors import NnportError
from nnport.model import Summary, inspect, load, save

__all__ = ["NnportError", "Summary", "__version__", "inspect", "load", "save"]
