"""Defects `reduce-empty-bool` and `attention-mask-length`: shapes a kernel refuses when it runs,
although the model loads (rule ``shape-unsupported``; measured on ONNX Runtime 1.32 and OpenVINO
2026.4).

- ``reduce-empty-bool``: ReduceMax and ReduceMin of bool over an axis of length 0, with a
  non-empty result: "ReduceMax is not defined for empty set with bool type" (float and int
  reductions return their identity value).
- ``attention-mask-length`` (ONNX Runtime, OpenVINO): an Attention whose ``attn_mask`` last axis
  is not the total key sequence length (keys plus past keys): "inconsistent
  total_sequence_length (between attn_mask and past_key and past_value)";
  ``attention-mask-length-padded`` (ONNX Runtime): the same with ``nonpad_kv_seqlen`` given,
  where the ONNX reference and OpenVINO accept a shorter mask.

Both are judged only where the shapes are static.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import onnx_ir as ir

from nnport.check.defects.repro import Repro, checked_model
from nnport.model.graphs import constant_tensor

if TYPE_CHECKING:
    import onnx

    from nnport.check.context import Context


def _static(ctx: Context, value: ir.Value | None) -> tuple[int, ...] | None:
    facts = ctx.facts(value) if value is not None and value.name else None
    if facts is None or not facts.static or facts.shape is None:
        return None
    return tuple(int(d) for d in facts.shape)  # type: ignore[arg-type]


def _reduced_axes(node: ir.Node, rank: int) -> list[int] | None:
    """The axes ``node`` reduces (attribute or constant input), or None when not known now."""
    attr = node.attributes.get("axes")
    if attr is not None:
        axes = list(attr.as_ints())
    elif len(node.inputs) > 1 and node.inputs[1] is not None and node.inputs[1].name:
        tensor = constant_tensor(node.inputs[1])
        if tensor is None:
            return None
        axes = [int(a) for a in tensor.numpy().ravel()]
    else:
        axes = []
    if not axes:
        noop = node.attributes.get_int("noop_with_empty_axes", 0)
        return [] if noop else list(range(rank))
    return [a % rank for a in axes] if rank else []


def detect_reduce_empty_bool(ctx: Context, node: ir.Node, label: str) -> str | None:
    """A bool ReduceMax/ReduceMin that reduces an axis of length 0 into a non-empty result."""
    if node.op_type not in ("ReduceMax", "ReduceMin") or node.domain not in ("", "ai.onnx"):
        return None
    data = node.inputs[0] if node.inputs else None
    shape = _static(ctx, data)
    if shape is None or ctx.facts(data).dtype != "bool" or 0 not in shape:
        return None
    axes = _reduced_axes(node, len(shape))
    result = _static(ctx, node.outputs[0]) if node.outputs else None
    if axes is not None:
        empty = [a for a in axes if shape[a] == 0]
        if not empty or 0 in [d for i, d in enumerate(shape) if i not in axes]:
            return None  # nothing empty is reduced, or the result is empty too
        which = f"axis {empty[0]}, of length 0,"
    elif result is not None and 0 not in result:
        which = "an axis of length 0"  # axes given at run time, and the result is not empty
    else:
        return None
    return (
        f"{node.op_type} '{label}' reduces {which} of a bool tensor into a non-empty result; "
        f"{ctx.profile.name}'s {node.op_type} refuses an empty bool reduction when it runs"
    )


def detect_attention_mask_length(ctx: Context, node: ir.Node, label: str) -> str | None:
    """An Attention without ``nonpad_kv_seqlen`` whose mask's last axis differs from the key
    length plus the past length."""
    return _mask_length(ctx, node, label, padded=False)


def detect_attention_mask_length_padded(ctx: Context, node: ir.Node, label: str) -> str | None:
    """The same with ``nonpad_kv_seqlen`` given (Attention-24), which the ONNX reference and
    OpenVINO accept and ONNX Runtime refuses."""
    return _mask_length(ctx, node, label, padded=True)


def _mask_length(ctx: Context, node: ir.Node, label: str, padded: bool) -> str | None:
    if node.op_type != "Attention" or node.domain not in ("", "ai.onnx"):
        return None
    inputs = list(node.inputs) + [None] * 7
    if padded != (inputs[6] is not None and bool(inputs[6].name)):
        return None
    keys, mask, past = _static(ctx, inputs[1]), _static(ctx, inputs[3]), _static(ctx, inputs[4])
    if keys is None or mask is None or not mask or len(keys) not in (3, 4):
        return None
    total = keys[-2] if len(keys) == 4 else keys[1]
    if inputs[4] is not None and inputs[4].name:
        if past is None or len(past) != 4:
            return None
        total += past[2]
    if mask[-1] == total:
        return None
    given = " with nonpad_kv_seqlen" if padded else ""
    return (
        f"Attention '{label}' has a mask of length {mask[-1]} for {total} keys (with past "
        f"keys){given}; {ctx.profile.name}'s Attention refuses that when it runs: pad the mask "
        f"to {total}"
    )


def reduce_empty_bool_repro() -> Repro:
    """ReduceMax of a bool [2, 0, 4] over axis 1; the control reduces a [2, 3, 4] one."""
    from onnx import TensorProto, helper, numpy_helper

    def model(length: int) -> onnx.ModelProto:
        graph = helper.make_graph(
            [helper.make_node("ReduceMax", ["x", "axes"], ["y"], keepdims=1)],
            "reduce_empty_bool",
            [helper.make_tensor_value_info("x", TensorProto.BOOL, [2, length, 4])],
            [helper.make_tensor_value_info("y", TensorProto.BOOL, [2, 1, 4])],
            [numpy_helper.from_array(np.array([1], np.int64), "axes")],
        )
        return checked_model(graph, 20, ir_version=9)

    return Repro(model(0), {"x": np.zeros((2, 0, 4), np.bool_)}, model(3),
                 {"x": np.ones((2, 3, 4), np.bool_)})  # fmt: skip


def attention_mask_length_repro(padded: bool = False) -> Repro:
    """Attention with 3 keys and a mask of length 2 (Attention-24 with ``nonpad_kv_seqlen``
    when ``padded``, else Attention-23); the control's mask has length 3."""
    from onnx import TensorProto, helper

    value = helper.make_tensor_value_info
    names = ["q", "k", "v", "m", "", "", "n"] if padded else ["q", "k", "v", "m"]

    def model(length: int) -> onnx.ModelProto:
        inputs = [value("q", TensorProto.FLOAT, [1, 1, 2, 4]),
                  value("k", TensorProto.FLOAT, [1, 1, 3, 4]),
                  value("v", TensorProto.FLOAT, [1, 1, 3, 4]),
                  value("m", TensorProto.FLOAT, [2, length])]  # fmt: skip
        if padded:
            inputs.append(value("n", TensorProto.INT64, [1]))
        graph = helper.make_graph(
            [helper.make_node("Attention", names, ["y"])], "attention_mask_length", inputs,
            [value("y", TensorProto.FLOAT, [1, 1, 2, 4])],
        )  # fmt: skip
        return checked_model(graph, 24 if padded else 23, ir_version=9)

    rng = np.random.default_rng(0)
    feeds = {n: rng.random(s, dtype=np.float32)
             for n, s in (("q", (1, 1, 2, 4)), ("k", (1, 1, 3, 4)), ("v", (1, 1, 3, 4)))}  # fmt: skip
    if padded:
        feeds["n"] = np.array([2], np.int64)
    mask = {"m": np.zeros((2, 2), np.float32)}
    return Repro(model(2), feeds | mask, model(3), feeds | {"m": np.zeros((2, 3), np.float32)})


def attention_mask_length_padded_repro() -> Repro:
    """``attention_mask_length_repro`` with ``nonpad_kv_seqlen`` (Attention-24)."""
    return attention_mask_length_repro(padded=True)
