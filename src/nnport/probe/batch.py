"""Batch-one variants of node-suite cases, for runtimes whose tensors have no batch axis (ncnn).

pnnx takes the first axis of every input as the batch and ncnn drops it. Many node-suite cases
feed tensors whose first axis is 2 or 3 (``[2, 3, 4, 5]``), so a failure there may say nothing
about the op itself. The probe therefore also runs each such case with its inputs cut to the
first sample (expected outputs from ONNX Runtime): the variant says whether the op converts and
matches, the original whether it survives a first axis other than 1. The profile keeps both
facts apart: ops under ``[[ops]]``, ops that passed with a first axis other than 1 under
``[graph] batch_free_ops`` (read by the rule ``batch-not-one``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx

if TYPE_CHECKING:
    from nnport.probe.outcomes import CaseOutcome

BATCH_ONE = "batch1"  # CaseOutcome.variant of a case run with its inputs cut to one sample


def leading_dim(inputs: Sequence[Any]) -> int:
    """The first-axis length of the runtime inputs when one is not 1 (the largest), else 1;
    0 when no input is a tensor of rank 1 or more."""
    dims = [int(np.shape(x)[0]) for x in inputs if isinstance(x, np.ndarray) and x.ndim >= 1]
    if not dims:
        return 0
    return max((d for d in dims if d != 1), default=1)


def batch_one_variant(
    model: onnx.ModelProto, inputs: Sequence[Any]
) -> tuple[onnx.ModelProto, list[Any], list[Any]] | None:
    """The case with every input of rank >= 2 whose first axis is the leading one cut to its
    first sample, and its expected outputs from ONNX Runtime; None when the case has no such
    input, or the cut model is invalid or does not run."""
    lead = leading_dim(inputs)
    cut = [isinstance(x, np.ndarray) and x.ndim >= 2 and x.shape[0] == lead for x in inputs]
    if lead <= 1 or not any(cut):
        return None
    initializers = {t.name for t in model.graph.initializer}
    runtime = [vi for vi in model.graph.input if vi.name not in initializers]
    variant = onnx.ModelProto()
    variant.CopyFrom(model)
    new_inputs = [x[:1] if c else x for x, c in zip(inputs, cut, strict=False)]
    by_name = {vi.name: vi for vi in variant.graph.input}
    for vi, c in zip(runtime, cut, strict=False):
        dims = by_name[vi.name].type.tensor_type.shape.dim
        if c and dims:
            dims[0].Clear()
            dims[0].dim_value = 1
    del variant.graph.value_info[:]
    for out in variant.graph.output:  # their dims may follow the inputs': unknown, ORT says
        for dim in out.type.tensor_type.shape.dim if out.type.HasField("tensor_type") else ():
            dim.Clear()
    try:
        onnx.checker.check_model(variant)
        import onnxruntime as ort

        quiet = ort.SessionOptions()
        quiet.log_severity_level = 3  # old-opset cases make ORT warn; errors still raise
        session = ort.InferenceSession(
            variant.SerializeToString(), quiet, providers=["CPUExecutionProvider"]
        )
        names = [i.name for i in session.get_inputs()]
        expected = session.run(None, dict(zip(names, new_inputs, strict=False)))
    except Exception:
        return None
    for out, value in zip(variant.graph.output, expected, strict=False):
        if out.type.HasField("tensor_type") and isinstance(value, np.ndarray):
            shape = out.type.tensor_type.shape
            shape.ClearField("dim")
            for size in value.shape:
                shape.dim.add().dim_value = int(size)
    return variant, new_inputs, list(expected)


def batch_free_ops(outcomes: Iterable[CaseOutcome]) -> tuple[str, ...]:
    """Ops of single-node cases that passed as written with a first axis other than 1; a
    reduction over every axis or none (``NodeUse.axis_free``) is no such evidence: ReduceSum's
    only such passes reduce nothing, and its cases with axes come out with the wrong shape.
    An op with a case that failed as written and passed cut to one sample is not batch-free
    whatever else passed: LRN's default case is near the identity and hides the wrong axis,
    its case with ``bias = 2`` differs by 0.89 and matches once cut."""
    seen = list(outcomes)
    cut_passes = {(o.case, o.opset) for o in seen if o.variant == BATCH_ONE and o.status == "pass"}
    batch_bound = {
        o.op for o in seen
        if not o.variant and o.single_node and o.leading_dim > 1 and o.status != "pass"
        and (o.case, o.opset) in cut_passes
    }  # fmt: skip
    return tuple(sorted({
        o.op for o in seen
        if o.status == "pass" and o.single_node and not o.variant and o.leading_dim > 1
        and not (o.nodes and o.nodes[0].axis_free) and o.op not in batch_bound
    }))  # fmt: skip
