"""Defect `linear-bias`: a Gemm pnnx makes a linear layer (``transB = 1`` or a constant B, without
``transA``) fails to convert or run with a bias unless both B and the bias are constants and
the bias is a vector (ncnn).

Measured on Gemm [3, 6] x [4, 6]^T: a constant B with a constant bias of shape [4] converts and
matches (an exported Linear layer); a run-time B or bias, or a bias of shape [1, 4] or [3, 4],
fails ("ncnn cannot run ... F.linear"), and so does a constant B with ``transB = 0`` and a
[3, 4] bias; without a bias, a run-time B runs. A Gemm with a run-time B and ``transB = 0``
(matmul and add) or with ``transA = 1`` is not a linear layer and runs (the node suite's other
Gemm cases). Rule ``input-not-constant``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import onnx_ir as ir

from nnport.check.defects.repro import Repro, checked_model
from nnport.check.input_rules import converter_sees

if TYPE_CHECKING:
    from nnport.check.context import Context


def detect(ctx: Context, node: ir.Node, label: str) -> str | None:
    """A linear-layer Gemm whose bias is not a constant vector next to a constant B."""
    if node.op_type != "Gemm" or node.domain not in ("", "ai.onnx") or len(node.inputs) < 3:
        return None
    weight, bias = node.inputs[1], node.inputs[2]
    if weight is None or bias is None or not bias.name or node.attributes.get_int("transA", 0) != 0:
        return None
    constant_weight = converter_sees(ctx, weight)
    if node.attributes.get_int("transB", 0) != 1 and not constant_weight:
        return None  # a matmul and an add to pnnx
    rank = ctx.facts(bias).rank
    if constant_weight and converter_sees(ctx, bias) and rank is not None and rank <= 1:
        return None
    return (
        f"Gemm '{label}' becomes a linear layer whose bias ('{bias.name}') is not a constant "
        f"vector next to a constant B; {ctx.profile.name} runs a linear layer's bias only so"
    )


def repro() -> Repro:
    """Gemm(a, b, c, transB=1) with B and a [3, 4] bias fed; the control: B and a [4] bias as
    constants (an exported Linear layer)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 6)).astype(np.float32), rng.standard_normal((4, 6))
    gemm = helper.make_node("Gemm", ["a", "b", "c"], ["y"], transB=1)
    out = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 4])]
    fed = helper.make_graph(
        [gemm], "linear_bias",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
         for n, s in (("a", [3, 6]), ("b", [4, 6]), ("c", [3, 4]))], out,
    )  # fmt: skip
    layer = helper.make_graph(
        [gemm], "linear_layer", [helper.make_tensor_value_info("a", TensorProto.FLOAT, [3, 6])],
        out, [numpy_helper.from_array(b.astype(np.float32), "b"),
              numpy_helper.from_array(np.ones(4, np.float32), "c")],
    )  # fmt: skip
    feeds = {"a": a, "b": b.astype(np.float32), "c": np.ones((3, 4), np.float32)}
    return Repro(checked_model(fed, 13), feeds, checked_model(layer, 13), {"a": a})
