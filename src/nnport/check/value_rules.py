"""Rules on the values of constant inputs (``input_values``: ncnn's Slice takes only steps of 1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import onnx_ir as ir

from nnport.check.shape_rules import Make
from nnport.check.violations import Violation
from nnport.model.graphs import constant_tensor
from nnport.targets.profile import OpRule

if TYPE_CHECKING:
    from nnport.check.context import Context


def value_violations(
    ctx: Context, node: ir.Node, rule: OpRule, label: str, make: Make
) -> list[Violation]:
    """``input_values``: every element of a constant input must be one of the listed numbers
    (ncnn's Slice takes only steps of 1, for example). Inputs not known now are not judged."""
    found = []
    for key, allowed in rule.input_values.items():
        position = int(key)
        value = node.inputs[position] if position < len(node.inputs) else None
        tensor = constant_tensor(value)
        if value is None or tensor is None:
            continue
        bad = sorted({x for x in tensor.numpy().ravel().tolist() if x not in allowed})
        if not bad:
            continue
        found.append(
            make(
                rule="input-value-unsupported",
                message=(
                    f"{node.op_type} '{label}' input {position} ('{value.name}') holds "
                    f"{', '.join(map(str, bad[:4]))}; {ctx.profile.name}'s {node.op_type} "
                    f"allows only {', '.join(map(str, allowed))} there"
                    + (f" ({rule.note})" if rule.note else "")
                ),
                fix=None,
                tensor=value.name,
            )
        )
    return found
