"""Rule `batch-axis-unknown`: axis-dependent ops in a graph with no op that tells pnnx the batch axis.

pnnx (ONNX -> ncnn) drops the batch axis and shifts every axis down by one, but it learns which
axis is the batch from ops such as Conv or pooling, anywhere in the graph. Without one, it leaves
axes as they are, so Concat axis=1 joins heights instead of channels. Measured on [1,3,8,8] with
pnnx 20261020 and ncnn: Slice, Concat, Softmax, ReduceMean and broadcasting Add/Mul give wrong
shapes or values on their own and right ones once a 1x1 Conv or a MaxPool is in the graph
(before or after them); Relu, Transpose, Flatten, MaxPool and Resize were right either way.
On 3-D tensors it is the same: of the 128 rank-3 single-node node-suite cases of the ops in
AXIS_OPS that ran on ncnn cut to a first axis of 1 (no anchor), the 8 that passed are
reductions over all axes (which do not depend on the axes); the 40 rank-2 cases are mixed (9
passed, mostly along the last axis), so rank 2 is not reported; every layer normalization case
failed (``benchmarks/results/probe-ncnn.json.gz``). A fixed first axis other than 1 is kept
as a plain axis: Softmax, Concat and Transpose cases with their own first axis of 2 or 3 came
out right. A node that turns a first axis of 1 into another length (Flatten with axis 2, a
Reshape or Concat along axis 0, Gemm with transA on [1, N]) is reported too, at any rank: the
rule fires on 86 node-suite runs of pnnx's ops (mostly cases cut to a first axis of 1) and
every one failed on ncnn; Flatten, Reshape, Concat, Expand, Squeeze and Gemm came out with the
first axis kept as a batch of 1. An Unsqueeze that puts a new axis at position 4 or later
fails to load without an anchor: pnnx passes its axes on unshifted, and ncnn's ExpandDims does
not load an axis above 3 (measured on [1, 4, 5] and [1, 4, 5, 6]: axes [1, 4], [2, 4], [4] and
[-1] fail, axes [1, 3], [2, 3] and [3] match, and after a Conv [1, 4] matches).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import onnx_ir as ir

from nnport.check.input_rules import converter_sees
from nnport.check.violations import Violation
from nnport.model.graphs import constant_tensor
from nnport.targets.profile import canonical_domain

if TYPE_CHECKING:
    from nnport.check.context import Context

# What pnnx learns the batch axis from (the profile's [graph] batch_anchor_ops for ncnn).
PNNX_BATCH_ANCHORS: tuple[str, ...] = (
    "AveragePool", "BatchNormalization", "Conv", "ConvTranspose", "GlobalAveragePool",
    "GlobalMaxPool", "InstanceNormalization", "MaxPool",
)  # fmt: skip

# Ops whose meaning depends on which axis is which (an axis or axes attribute or input).
AXIS_OPS = frozenset({
    "ArgMax", "ArgMin", "Concat", "CumSum", "Gather", "Hardmax", "LogSoftmax", "LpNormalization",
    "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean",
    "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare", "Slice", "Softmax", "Split", "TopK",
    "LayerNormalization", "RMSNormalization", "MeanVarianceNormalization",
})  # fmt: skip
REDUCE_OPS = frozenset(op for op in AXIS_OPS if op.startswith("Reduce"))
NCNN_AXES = 4  # ncnn's ExpandDims loads axes 0 to 3 only (module docstring)
MIN_RANK = 3  # the lowest input rank at which the rule is measured to hold (module docstring)

# Element-wise ops that broadcast: their meaning depends on the axes when the shapes differ.
BROADCAST_OPS = frozenset({
    "Add", "And", "BitShift", "Div", "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual",
    "Max", "Mean", "Min", "Mod", "Mul", "Or", "Pow", "PRelu", "Sub", "Sum", "Where", "Xor",
})  # fmt: skip


def _broadcasts(ctx: Context, node: ir.Node) -> bool:
    """True unless every input is known to have the same shape."""
    shapes = [ctx.facts(v).shape for v in node.inputs if v is not None]
    return any(s is None for s in shapes) or len(set(shapes)) > 1


def _batch_like(shape: tuple[object, ...] | None) -> bool:
    """A tensor pnnx would take the first axis of as the batch: rank 3 or more (measured; lower
    ranks often come out right) with a first axis of 1 or not fixed (a fixed first axis of 3
    is kept as an axis like the others, and the same node-suite cases then come out right)."""
    return (
        shape is not None
        and len(shape) >= MIN_RANK
        and not (isinstance(shape[0], int) and shape[0] != 1)
    )


def reduces_everything(node: ir.Node) -> bool:
    """A reduction with no axes (no attribute, no input): over every axis, or with an empty
    constant axes input and noop_with_empty_axes=1 over none; either way its result does not
    depend on which axis is the batch (``NodeUse.axis_free`` is the probe's record of the
    same). An empty axes input without noop is not: pnnx reduces nothing then (measured on the
    node suite's default-axes cases, which feed empty axes)."""
    if node.op_type not in REDUCE_OPS or "axes" in node.attributes:
        return False
    axes = node.inputs[1] if len(node.inputs) > 1 else None
    if axes is None:
        return True
    const = constant_tensor(axes)  # empty, with noop: over no axis
    noop = node.attributes.get_int("noop_with_empty_axes", 0) == 1
    return noop and const is not None and 0 in tuple(const.shape)


def _moves_first_axis(ctx: Context, node: ir.Node) -> bool:
    """A Transpose whose permutation (default: reversed) moves axis 0: measured on the node
    suite's Transpose cases cut to a first axis of 1, every such permutation failed and
    [0, 2, 1] passed (in graphs with an anchor, pnnx follows the batch axis through it: ViT)."""
    shape = ctx.facts(node.inputs[0]).shape if node.inputs else None
    if shape is None:
        return False
    perm = node.attributes.get_ints("perm", list(range(len(shape)))[::-1])
    return bool(perm) and perm[0] != 0


def _resizes_first_axis(ctx: Context, node: ir.Node) -> bool:
    """A node whose run-time inputs all have a first axis of 1 and that outputs, at run time, a
    first axis of another fixed length (a Flatten with axis 2, a Reshape to [2, 3, 2], a Concat
    or Squeeze along axis 0): measured on the node suite's cases cut to a first axis of 1, pnnx
    keeps that axis as the batch and ncnn returns the wrong shape. A run-time input with
    another first axis (Gemm's a next to a [1, N] bias) brings that length itself; constants
    (a Reshape's shape) are weights to the converter."""
    firsts = [_first_axis(ctx, v) for v in node.inputs
              if v is not None and v.name and not converter_sees(ctx, v)]  # fmt: skip
    if 1 not in firsts or any(f not in (None, 1) for f in firsts):
        return False
    return any(
        _first_axis(ctx, v) not in (None, 1) and not converter_sees(ctx, v) for v in node.outputs
    )


def _expands_past_ncnn_axes(ctx: Context, node: ir.Node) -> bool:
    """An Unsqueeze that puts a new axis at position NCNN_AXES or later of its output (without
    an anchor pnnx hands ncnn the ONNX axes unshifted)."""
    if node.op_type != "Unsqueeze":
        return False
    out = ctx.facts(node.outputs[0]).rank
    axes = node.attributes.get_ints("axes")
    if axes is None and len(node.inputs) > 1:
        const = constant_tensor(node.inputs[1])
        axes = None if const is None else [int(a) for a in const.numpy().reshape(-1)]
    if out is None or axes is None:
        return False
    return any(a % out >= NCNN_AXES for a in axes)


def _first_axis(ctx: Context, value: ir.Value) -> int | None:
    shape = ctx.facts(value).shape
    return shape[0] if shape and isinstance(shape[0], int) else None


def node_label(ctx: Context, node: ir.Node, index: int) -> str:
    """A node's name, else "Op#i" with its position in check's walk (as the rules name it)."""
    return node.name or f"{node.op_type}#{ctx.indices.get(id(node), index)}"


def node_violation(
    ctx: Context,
    node: ir.Node,
    index: int,
    rule: str,
    message: str,
    *,
    fix: str | None = None,
    graph: str = "",
) -> Violation:
    """A violation at ``node`` of a graph-level rule (the batch-axis rules: no pass fixes them;
    runtime defects), the node named by ``node_label``."""
    return Violation(
        node=node_label(ctx, node, index),
        op=node.op_type,
        domain=canonical_domain(node.domain),
        opset=ctx.model_opsets.get("ai.onnx", 0),
        rule=rule,
        message=message,
        fix=fix,
        graph=graph,
        index=ctx.indices.get(id(node), index),
    )


def _per_channel(ctx: Context, node: ir.Node) -> bool:
    """A PRelu whose slope varies along the channel axis at most ([C, 1, 1], [1]): pnnx makes
    it a per-channel PReLU layer, right without an anchor (measured by nnport's exporter cases,
    as torch exports nn.PReLU; the suite's slope along the last axis is wrong)."""
    if node.op_type != "PRelu" or len(node.inputs) < 2:
        return False
    data, slope = (ctx.facts(v).shape for v in node.inputs[:2])
    if data is None or slope is None or len(slope) > len(data):
        return False
    aligned = (1,) * (len(data) - len(slope)) + tuple(slope)
    return all(d == 1 for i, d in enumerate(aligned) if i != 1)


def _depends_on_axes(ctx: Context, node: ir.Node) -> bool:
    """An axis-dependent node (AXIS_OPS, a broadcasting element-wise op, a Transpose moving
    axis 0) on a batch-like tensor, other than a reduction over every axis or none and a
    per-channel PRelu."""
    if (
        node.op_type not in AXIS_OPS
        and not (
            node.op_type in BROADCAST_OPS and _broadcasts(ctx, node) and not _per_channel(ctx, node)
        )
        and not (node.op_type == "Transpose" and _moves_first_axis(ctx, node))
    ) or reduces_everything(node):
        return False
    return any(_batch_like(ctx.facts(v).shape) for v in node.inputs if v is not None)


def batch_axis_violations(ctx: Context) -> list[Violation]:
    """One violation per axis-dependent node on a batch-like tensor (rank 3 or more, first axis 1
    or free) when the graph has no anchor op; a Transpose counts when it moves axis 0."""
    anchors = set(ctx.profile.graph.batch_anchor_ops)
    if not anchors:
        return []
    nodes = list(ctx.model.graph)
    if any(node.op_type in anchors for node in nodes):
        return []
    found: list[Violation] = []
    for index, node in enumerate(nodes):
        if node.domain not in ("", "ai.onnx"):
            continue
        resized = _resizes_first_axis(ctx, node)  # pnnx keeps that first axis as the batch
        expanded = _expands_past_ncnn_axes(ctx, node)
        if not resized and not expanded and not _depends_on_axes(ctx, node):
            continue
        what, effect = (
            ("turns a first axis of 1 into another length", "keep that axis as the batch and "
             "return the wrong shape without an error") if resized
            else (f"inserts an axis at position {NCNN_AXES} or later", "pass the axes on "
                  f"unshifted, and the runtime loads axes 0 to {NCNN_AXES - 1} only") if expanded
            else ("depends on which axis is which", "apply the op one axis off and give wrong "
                  "results without an error")
        )  # fmt: skip
        message = (
            f"{node.op_type} '{node_label(ctx, node, index)}' {what}, and the graph has no "
            f"op ({', '.join(sorted(anchors)[:4])}, ...) from which {ctx.profile.name}'s "
            f"converter learns the batch axis: it would {effect}"
        )
        found.append(node_violation(ctx, node, index, "batch-axis-unknown", message))
    return found
