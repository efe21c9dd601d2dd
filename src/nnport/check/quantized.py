"""A model that arrives quantized (QuantizeLinear/DequantizeLinear): one answer per target."""

from __future__ import annotations

from collections.abc import Sequence

import onnx_ir as ir

from nnport.check.violations import Violation
from nnport.targets.profile import TargetProfile

QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"})
# Integer-kernel ops a quantizer writes instead of (or besides) Q/DQ pairs (QOperator format).
QOPERATOR_OPS = frozenset({"QLinearConv", "QLinearMatMul", "QLinearAdd", "QLinearMul",
                           "ConvInteger", "MatMulInteger", "QLinearAveragePool",
                           "QLinearGlobalAveragePool", "QLinearSigmoid", "QLinearLeakyRelu",
                           "QLinearConcat", "QGemm"})  # fmt: skip


def quantized_nodes(model: ir.Model) -> tuple[list[ir.Node], list[ir.Node]]:
    """(the Q/DQ nodes, the quantized-operator nodes) of the main graph."""
    qdq = [n for n in model.graph if n.op_type in QDQ_OPS and n.domain in ("", "ai.onnx")]
    qop = [n for n in model.graph if n.op_type in QOPERATOR_OPS]
    return qdq, qop


def quantized_model(
    model: ir.Model, profile: TargetProfile, violations: Sequence[Violation]
) -> tuple[list[Violation], list[str]]:
    """The violations with the Q/DQ nodes' own replaced by one model-level answer for a target
    whose converter quantizes float models itself, and notes for a target that runs QDQ."""
    qdq, qop = quantized_nodes(model)
    if not qdq and not qop:
        return list(violations), []
    precision = profile.precision
    count = f"{len(qdq)} QuantizeLinear/DequantizeLinear node(s)" if qdq else ""
    if qop:
        count += (" and " if count else "") + f"{len(qop)} quantized operator node(s)"
    if precision.qdq == "consumes":
        note = (
            f"the model arrives quantized ({count}); {profile.name} runs QDQ models as is: "
            f"{precision.qdq_note} (source: {precision.source})"
        )
        return list(violations), [note]
    if precision.qdq != "calibrates":
        return list(violations), [f"the model arrives quantized ({count})"]
    names = {n.name for n in qdq if n.name}
    kept = [v for v in violations if not (v.node and v.node in names)]
    dropped = len(violations) - len(kept)
    if not qdq:  # QOperator models cannot be folded here
        return kept, []
    first = qdq[0]
    message = (
        f"the model arrives quantized ({count}); {profile.name} wants a float model and "
        f"quantizes it itself: {precision.qdq_note}. nnport fix --fold-qdq folds Q/DQ back to "
        f"float (the difference to the quantized model is measured and stated) and writes "
        f"the scales out for the converter's calibration"
        + (f" ({dropped} per-node violation(s) of the Q/DQ nodes folded into this one)"
           if dropped else "")
    )  # fmt: skip
    answer = Violation(
        node=first.name or "",
        op=first.op_type,
        domain="ai.onnx",
        opset=model.opset_imports.get("", 0),
        rule="quantized-model",
        message=message,
        fix=None,
    )
    return [answer, *kept], []
