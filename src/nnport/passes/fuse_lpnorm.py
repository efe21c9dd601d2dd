"""x / Max(ReduceL2(x, [a]), ε) → LpNormalization(x, axis=a, p=2), for targets that have it."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import onnx_ir as ir

from nnport.passes.base import FixPass, const_array

# The only pass written as an onnxscript rewrite rule (pattern / check / rewrite): the match is a
# fixed three-node shape. LpNormalization has no ε, so only ε <= MAX_EPSILON is fused: rows whose
# norm is below ε (all-zero rows) are where the two differ, and verification measures it.
MAX_EPSILON = 1e-6


def _axes(node: ir.Node) -> list[int] | None:
    if "axes" in node.attributes:
        return list(node.attributes["axes"].as_ints())
    if len(node.inputs) > 1 and node.inputs[1] is not None:
        data = const_array(node.inputs[1])
        return None if data is None else [int(a) for a in np.asarray(data).reshape(-1)]
    return None


@functools.cache
def rules() -> Any:
    """The rewrite rule set, built on first use (importing onnxscript costs ~0.3 s, and most
    fixes never need it)."""
    from onnxscript.rewriter import pattern
    from onnxscript.rewriter._basics import MatchResult
    from onnxscript.rewriter._rewrite_rule import RewriteRuleSet

    class _L2NormFusion(pattern.RewriteRuleClassBase):
        def pattern(self, op: Any, x: ir.Value, eps: ir.Value) -> ir.Value:
            norm = op.ReduceL2(
                x, _allow_other_inputs=True, _allow_other_attributes=True, _outputs=["norm"]
            )
            return op.Div(x, op.Max(norm, eps))

        def check(self, op: Any, *args: Any, **kwargs: Any) -> MatchResult:
            eps: ir.Value = kwargs["eps"]
            norm: ir.Value = kwargs["norm"]
            result = MatchResult()
            value = const_array(eps)
            if value is None or value.size != 1 or float(value.reshape(-1)[0]) > MAX_EPSILON:
                return result.fail("epsilon is not a small constant")
            node = norm.producer()
            axes = _axes(node) if node is not None else None
            if axes is None or len(axes) != 1:
                return result.fail("the norm is not over one constant axis")
            if node is not None and node.attributes.get_int("keepdims", 1) != 1:
                return result.fail("the norm drops its axis")
            return result

        def rewrite(
            self, op: Any, x: ir.Value, eps: ir.Value, norm: ir.Value, **_: Any
        ) -> ir.Value:
            node = norm.producer()
            assert node is not None
            axes = _axes(node)
            assert axes is not None
            return op.LpNormalization(x, axis=axes[0], p=2)

    return RewriteRuleSet([_L2NormFusion.rule()])


class FuseLpNormPass(FixPass):
    """The reverse of decompose-lpnorm: one LpNormalization instead of ReduceL2, Max and Div."""

    fix_id = "fuse-lpnorm"
    resolves = ("op-unsupported",)

    def call(self, model: ir.Model) -> ir.passes.PassResult:
        self.rewritten = int(rules().apply_to_model(model))
        return ir.passes.PassResult(model, self.rewritten > 0)
