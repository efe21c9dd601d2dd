"""Verified graph rewrites (one pass per module) and the planner that applies them for a target."""

from __future__ import annotations

from nnport.passes.atc import atc_command
from nnport.passes.base import Decline, FixPass, NodeRewritePass
from nnport.passes.catalog import CATALOG, FIX_IDS, pass_class
from nnport.passes.planner import FixOptions, FixResult, PassRecord, Remaining, fix

__all__ = [
    "CATALOG",
    "FIX_IDS",
    "Decline",
    "FixOptions",
    "FixPass",
    "FixResult",
    "NodeRewritePass",
    "PassRecord",
    "Remaining",
    "atc_command",
    "fix",
    "pass_class",
]
