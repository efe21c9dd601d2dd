"""Defect `split-uneven-parts`: a Split given ``num_outputs`` along an axis it does not divide
evenly (ncnn).

ONNX (opset 18) makes every part ceil(n / k) long and the last one shorter; ncnn's automatic
slices put the shorter part first (8 in 3: ONNX [3, 3, 2], ncnn [2, 3, 3]), with no error.
Measured after a Conv on [1, 3, 8, 4] and [1, 8, 4, 4], and by the node suite
(``test_split_2d_uneven_split``, ``test_split_1d_uneven_split``); 9 in 3 matches, and so does
every case given explicit ``split`` sizes.
Rule ``shape-unsupported``; fix ``write-split-sizes`` gives the sizes explicitly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import onnx_ir as ir

from nnport.check.defects.repro import Repro, checked_model

if TYPE_CHECKING:
    from nnport.check.context import Context

WRITE_SPLIT_SIZES = "write-split-sizes"


def uneven_parts(length: int, parts: int) -> list[int] | None:
    """ONNX's part lengths for ``parts`` parts of ``length`` when they are not all equal (None
    when they are, or when no valid split exists)."""
    if parts < 1 or length % parts == 0:
        return None
    chunk = -(-length // parts)
    last = length - chunk * (parts - 1)
    return [chunk] * (parts - 1) + [last] if last > 0 else None


def detect(ctx: Context, node: ir.Node, label: str) -> str | None:
    """A Split by num_outputs along an axis of static length it does not divide."""
    if node.op_type != "Split" or node.domain not in ("", "ai.onnx"):
        return None
    parts = node.attributes.get_int("num_outputs")
    shape = ctx.facts(node.inputs[0]).shape if node.inputs and node.inputs[0] else None
    if parts is None or shape is None:
        return None
    axis = node.attributes.get_int("axis", 0) % len(shape)
    length = shape[axis]
    if not isinstance(length, int):
        return None
    sizes = uneven_parts(length, parts)
    if sizes is None:
        return None
    return (
        f"Split '{label}' cuts an axis of {length} into {parts} parts by num_outputs ({sizes} in "
        f"ONNX); {ctx.profile.name} puts the shorter part first"
    )


def repro() -> Repro:
    """Split of [2, 8] along axis 1 into num_outputs=3 (ONNX: 3, 3, 2)."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Split", ["x"], ["a", "b", "c"], axis=1, num_outputs=3)],
        "split_uneven_parts",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, s])
         for n, s in (("a", 3), ("b", 3), ("c", 2))],
    )  # fmt: skip
    feeds = {"x": np.arange(16, dtype=np.float32).reshape(2, 8)}
    return Repro(checked_model(graph, 18), feeds)
