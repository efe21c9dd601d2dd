"""Rule `batch-not-one`: nodes fed from a static graph input whose first axis is not 1, on a
converter that treats the first axis as a batch it drops (pnnx -> ncnn).

ncnn tensors have no batch axis: pnnx converts for one sample and the runner feeds a model with a
dynamic batch one sample at a time. A model exported with a fixed first axis of 2 (or a 1-D input
of length 3) is converted with that axis taken as the batch, and most ops then see the wrong
axes: BatchNormalization scales the wrong channels, reductions and Transpose lose an axis, with
no error. Element-wise ops, MatMul, Reshape and a few more come out right; the probe measures
which (the profile's ``[graph] batch_free_ops``, from node-suite cases that passed with a first
axis other than 1), and every other op downstream of such an input is reported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import onnx_ir as ir

from nnport.check.batch_axis import node_label, node_violation, reduces_everything
from nnport.check.input_rules import folded_by_converter
from nnport.model.specs import graph_inputs

if TYPE_CHECKING:
    from nnport.check.context import Context
    from nnport.check.violations import Violation


def _batched_inputs(model: ir.Model) -> dict[str, int]:
    """Graph inputs (initializers excluded) whose declared first axis is a number other than 1."""
    found = {}
    for value in graph_inputs(model):
        shape = value.shape
        if shape is not None and len(shape) >= 1 and isinstance(shape[0], int) and shape[0] != 1:
            found[value.name or ""] = int(shape[0])
    return found


def batch_size_violations(ctx: Context) -> list[Violation]:
    """One violation per node downstream of a fixed first axis other than 1, unless its op is
    one the profile lists as right on such tensors."""
    if not ctx.profile.graph.batch_anchor_ops:  # the converter keeps a batch axis: no rule
        return []
    batched = _batched_inputs(ctx.model)
    if not batched:
        return []
    free = set(ctx.profile.graph.batch_free_ops)
    # tensor name -> (graph input it descends from, that input's first-axis length)
    origin = {name: (name, size) for name, size in batched.items()}
    found: list[Violation] = []
    for index, node in enumerate(ctx.model.graph):
        fed = [origin[v.name] for v in node.inputs if v is not None and v.name in origin]
        if not fed:
            continue
        source, size = fed[0]
        if node.outputs and all(folded_by_converter(ctx, ctx.level(o)) for o in node.outputs):
            continue  # shape arithmetic the converter computes itself (Shape -> Gather)
        origin.update({out.name: fed[0] for out in node.outputs if out.name})
        if node.domain in ("", "ai.onnx") and (node.op_type in free or reduces_everything(node)):
            continue  # a reduction over every axis or none does not see the axes
        message = (
            f"{node.op_type} '{node_label(ctx, node, index)}' runs on input '{source}' whose first axis is fixed at "
            f"{size}; {ctx.profile.name} has no batch axis (its converter takes the first axis as "
            f"the batch and drops it), so the op would see the wrong axes: export with batch 1 "
            f"or a dynamic batch"
        )
        found.append(node_violation(ctx, node, index, "batch-not-one", message))
    return found
