"""Defect `resize-nearest-mode`: a nearest Resize that sets ``nearest_mode`` to anything but
"floor" (ncnn).

pnnx maps a nearest Resize to torch's nearest interpolation, which rounds down, and gives up on
the node when ``nearest_mode`` is written out with another value, even ONNX's own default.
Measured on [1, 3, 4, 4] upsampled by 2 at opsets 13 and 19: ``nearest_mode`` left out, or
"floor", converts; "round_prefer_floor" written out fails to convert ("pnnx ignored op(s)
Resize"), with or without a Conv before it, with scales or sizes; so do the node suite's
"round_prefer_ceil" and "ceil" cases. Rule ``attribute-unsupported``; where the value written is
the default, the fix ``drop-defaults`` leaves it out, which changes nothing in ONNX terms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import onnx_ir as ir

from nnport.check import fixes
from nnport.check.defects.repro import Repro, checked_model

if TYPE_CHECKING:
    from nnport.check.context import Context

DEFAULT = "round_prefer_floor"  # ONNX's default nearest_mode


def _written(node: ir.Node) -> str | None:
    """The nearest_mode a nearest Resize writes out, when it is not "floor"."""
    if node.op_type != "Resize" or node.domain not in ("", "ai.onnx"):
        return None
    mode = node.attributes.get_string("mode", "nearest")
    written = node.attributes.get_string("nearest_mode")
    return written if mode == "nearest" and written not in (None, "floor") else None


def detect(ctx: Context, node: ir.Node, label: str) -> str | None:
    """A nearest Resize with nearest_mode written out as another value than "floor"."""
    written = _written(node)
    if written is None:
        return None
    return (
        f"Resize '{label}' writes nearest_mode={written!r} out; {ctx.profile.name}'s converter "
        f"takes a nearest Resize only with nearest_mode left out or 'floor'"
    )


def fix_for(ctx: Context, node: ir.Node) -> str | None:
    """The default written out can be left out; another value changes the result."""
    return fixes.DROP_DEFAULTS if _written(node) == DEFAULT else None


def repro() -> Repro:
    """A nearest Resize by 2 with nearest_mode="round_prefer_floor" written out; the control:
    the same Resize with it left out."""
    from onnx import TensorProto, helper, numpy_helper

    def graph_of(**attributes: str) -> Repro:
        graph = helper.make_graph(
            [helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest",
                              **attributes)],
            "resize_nearest_mode",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])],
            [numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")],
        )  # fmt: skip
        feeds = {"x": np.random.default_rng(0).standard_normal((1, 3, 4, 4)).astype(np.float32)}
        return Repro(checked_model(graph, 13), feeds)

    made, control = graph_of(nearest_mode=DEFAULT), graph_of()
    return Repro(made.model, made.feeds, control.model, control.feeds)
