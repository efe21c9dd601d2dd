"""Defect `deconv-runtime-weight`: a ConvTranspose whose weight is a run-time tensor (ncnn).

pnnx makes an exported ConvTranspose (constant weight) a Deconvolution layer, which is right;
a weight fed at run time goes through another path. Measured on [1, C_in, 3, 3] inputs with
a [C_in, C_out, 3, 3] weight fed at run time: (C_in, C_out) = (1, 2) returns one channel
instead of two, (2, 2), (2, 1) and (3, 2) return wrong values, all with no error; (1, 1)
matches, and with the same weights as constants every one matches. The 1-D form matches for
all four channel pairs; the 3-D form fails to convert (ncnn has no layer for
``F.conv_transpose3d``). The node suite's ``test_convtranspose`` is the (1, 2) case. Rule
``input-not-constant``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import onnx_ir as ir

from nnport.check import fixes
from nnport.check.defects.repro import Repro, checked_model
from nnport.check.input_rules import converter_sees

if TYPE_CHECKING:
    from nnport.check.context import Context


def _runtime_weight(ctx: Context, node: ir.Node) -> ir.Value | None:
    """The weight of a 2-D or 3-D ConvTranspose when it is a run-time tensor of more than one
    channel pair, else None."""
    if node.op_type != "ConvTranspose" or node.domain not in ("", "ai.onnx"):
        return None
    weight = node.inputs[1] if len(node.inputs) > 1 else None
    if weight is None or converter_sees(ctx, weight):
        return None
    shape = ctx.facts(weight).shape
    if shape is None or len(shape) not in (4, 5):
        return None
    return None if len(shape) == 4 and shape[0] == 1 and shape[1] == 1 else weight


def detect(ctx: Context, node: ir.Node, label: str) -> str | None:
    """A 2-D ConvTranspose with a run-time weight of more than one channel pair, or a 3-D one
    with a run-time weight."""
    weight = _runtime_weight(ctx, node)
    if weight is None:
        return None
    effect = (
        "fails to convert (no layer for a 3-D one)"
        if ctx.facts(weight).rank == 5
        else "returns wrong values without an error"
    )
    return (
        f"ConvTranspose '{label}' takes its weight ('{weight.name}') at run time; "
        f"{ctx.profile.name} runs a ConvTranspose right only with a constant weight, and this "
        f"one {effect}"
    )


def fix_for(ctx: Context, node: ir.Node) -> str | None:
    """A weight computed from constants or shapes becomes a constant once folded."""
    weight = _runtime_weight(ctx, node)
    return (
        None
        if weight is None
        else fixes.for_constness(ctx.level(weight), inputs_static=ctx.inputs_static)
    )


def repro() -> Repro:
    """ConvTranspose of a [1, 1, 3, 3] input with a [1, 2, 3, 3] weight fed at run time, values
    small integers so that every runtime's sums are exact (ncnn returns one channel)."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    graph = helper.make_graph(
        [helper.make_node("ConvTranspose", ["x", "w"], ["y"])],
        "deconv_runtime_weight",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 3, 3]),
         helper.make_tensor_value_info("w", TensorProto.FLOAT, [1, 2, 3, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 5, 5])],
    )  # fmt: skip
    feeds = {
        "x": rng.integers(-2, 3, (1, 1, 3, 3)).astype(np.float32),
        "w": rng.integers(-2, 3, (1, 2, 3, 3)).astype(np.float32),
    }
    return Repro(checked_model(graph, 13), feeds)
