"""Defect `gather-index-list`: a Gather of a run-time tensor with constant indices of more than
one element (ncnn).

pnnx maps such a Gather to a select of one index, whatever the indices hold. Measured on
[1, 3, 4, 5] after a 1x1 Conv or MaxPool, along axes 1 and 3: a scalar index, or a vector of
one, converts and matches; a vector of two or three indices converts and returns one slice,
squeezed (the wrong shape and values, no error); indices of shape [1, 2] or [2, 2] are left as a Gather layer
ncnn does not have (the node suite's ``test_gather_2d_indices``). A Gather whose data the
converter folds (shape arithmetic) or an embedding lookup (constant data, run-time indices) is
something else. Rule ``input-not-scalar``; fix ``rewrite-gather`` (Slices and a Concat).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import onnx_ir as ir

from nnport.check.defects.repro import Repro, after_anchor
from nnport.check.input_rules import converter_sees

if TYPE_CHECKING:
    from nnport.check.context import Context

REWRITE_GATHER = "rewrite-gather"


def detect(ctx: Context, node: ir.Node, label: str) -> str | None:
    """A Gather of a run-time tensor whose constant indices hold more than one element."""
    if node.op_type != "Gather" or node.domain not in ("", "ai.onnx") or len(node.inputs) < 2:
        return None
    data, indices = node.inputs[0], node.inputs[1]
    if data is None or indices is None or converter_sees(ctx, data):
        return None
    if not converter_sees(ctx, indices) or not ctx.facts(indices).static:
        return None
    shape = ctx.facts(indices).shape or ()
    count = math.prod(d for d in shape if isinstance(d, int))
    if count <= 1:
        return None
    effect = "returns one slice (wrong values)" if len(shape) == 1 else "has no ncnn layer for it"
    return (
        f"Gather '{label}' takes {count} indices ('{indices.name}', shape {list(shape)}) from a "
        f"run-time tensor; {ctx.profile.name}'s converter maps it to a select of one index and "
        f"{effect}"
    )


def repro() -> Repro:
    """A 1x1 MaxPool, then Gather of channels [0, 2] (ncnn returns one channel, squeezed)."""
    from onnx import helper

    gather = helper.make_node("Gather", ["p", "i"], ["y"], axis=1)
    return after_anchor("gather_index_list", gather, [1, 2, 4, 5],
                        {"i": np.array([0, 2], np.int64)})  # fmt: skip
