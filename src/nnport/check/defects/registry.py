"""Measured defects of a target's runtime: patterns no op entry can state, each with a detector,
a rule and a minimal repro.

A profile lists the defects its runtime has (``[graph] defects``, names from ``DEFECTS``); each
name has a detector and a minimal model (``Repro``), so ``benchmarks/probe_profiles.py`` and
``scripts/gen_onnxruntime_profile.py`` record a defect only while it still reproduces on the
installed runtime, and a test fails when a runtime upgrade fixes it. Two kinds:

- wrong results with no error: ``split-uneven-parts`` (``nnport.check.defects.split``, rule
  ``shape-unsupported``, ncnn), ``reduce-axes-input`` (``nnport.check.defects.reduce_axes``,
  rule ``input-unsupported``, ncnn); rule ``runtime-defect``: ``resize-nearest-index``
  (``nnport.check.defects.resize_index``, ncnn), ``if-empty-constant``
  (``nnport.check.defects.if_empty``), ``tile-runtime-repeats`` (``nnport.check.defects.tile``)
  and ``pool-ceil-extra-window`` (``nnport.check.defects.pool``), OpenVINO and ncnn;
  ``avgpool-ceil-extra-window`` (the same module), ncnn;
- refusals, each with its own rule, recorded only while the runtime refuses the repro and runs
  its control: ``dynamic-rank`` (``nnport.check.defects.dynamic_rank``, OpenVINO),
  ``reduce-empty-bool`` and ``attention-mask-length(-padded)`` (``nnport.check.defects.kernels``,
  shape checks kernels make when they run); ``empty-tensor`` (``nnport.check.defects.empty``,
  ncnn); ``passthrough-graph`` (``nnport.check.defects.passthrough``, ncnn);
  ``linear-bias`` (``nnport.check.defects.linear``, ncnn); ``resize-nearest-mode``
  (``nnport.check.defects.resize``, ncnn);
- both (a wrong result or a refusal, by the shape of the input), recorded while the runtime
  returns a wrong result on the repro: ``gather-index-list`` (``nnport.check.defects.gather``)
  and ``deconv-runtime-weight`` (``nnport.check.defects.deconv``), ncnn.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import onnx_ir as ir

from nnport.check.batch_axis import node_label, node_violation
from nnport.check.defects import (
    deconv,
    dynamic_rank,
    empty,
    gather,
    if_empty,
    kernels,
    linear,
    passthrough,
    pool,
    reduce_axes,
    resize,
    resize_index,
    split,
    tile,
)
from nnport.check.defects.repro import Repro

if TYPE_CHECKING:
    import onnx

    from nnport.check.context import Context
    from nnport.check.violations import Violation

MATERIALIZE_EMPTY_BRANCH = if_empty.MATERIALIZE_EMPTY_BRANCH
empty_branch_outputs = if_empty.empty_branch_outputs


@dataclasses.dataclass(frozen=True)
class Defect:
    """One measured defect: the rule that reports it, what it does, its detector (the
    violation's message, or None) and repro, and whether the runtime refuses the repro (else it
    runs it and returns a wrong result)."""

    rule: str
    description: str
    detect: Callable[[Context, ir.Node, str], str | None]
    repro: Callable[[], Repro]
    refusal: bool = False
    fix: str | None = None
    fix_for: Callable[[Context, ir.Node], str | None] | None = (
        None  # a fix that depends on the node
    )


DEFECTS: dict[str, Defect] = {
    "if-empty-constant": Defect(
        "runtime-defect",
        "an If whose branch outputs a zero-size constant returns one element (garbage) "
        "instead of none",
        if_empty.detect,
        if_empty.repro,
        fix=MATERIALIZE_EMPTY_BRANCH,
    ),
    "tile-runtime-repeats": Defect(
        "runtime-defect",
        "a Tile with repeats known only at run time returns wrong values when the first axis "
        "is above 1 and three other axes repeat",
        tile.detect,
        tile.repro,
        fix_for=tile.fix_for,
    ),
    "pool-ceil-extra-window": Defect(
        "runtime-defect",
        "a ceil-mode MaxPool keeps a last window that starts in the padding (one row or column "
        "more than ONNX)",
        pool.detect,
        pool.repro,
    ),
    "avgpool-ceil-extra-window": Defect(
        "runtime-defect",
        "a ceil-mode AveragePool keeps a last window that starts in the padding (one row or "
        "column more than ONNX)",
        pool.detect_average,
        pool.repro_average,
    ),
    "dynamic-rank": Defect(
        "dynamic-rank",
        "refuses a node whose output rank is known only at run time (a reduction with "
        "keepdims=0, a Squeeze or an Unsqueeze, given its axes at run time)",
        dynamic_rank.detect,
        dynamic_rank.repro,
        refusal=True,
    ),
    "reduce-empty-bool": Defect(
        "shape-unsupported",
        "ReduceMax and ReduceMin of bool refuse to reduce an axis of length 0",
        kernels.detect_reduce_empty_bool,
        kernels.reduce_empty_bool_repro,
        refusal=True,
    ),
    "attention-mask-length": Defect(
        "shape-unsupported",
        "Attention refuses a mask whose last axis is not the key/value sequence length",
        kernels.detect_attention_mask_length,
        kernels.attention_mask_length_repro,
        refusal=True,
    ),
    "attention-mask-length-padded": Defect(
        "shape-unsupported",
        "Attention refuses a mask whose last axis is not the key/value sequence length, also "
        "with nonpad_kv_seqlen given",
        kernels.detect_attention_mask_length_padded,
        kernels.attention_mask_length_padded_repro,
        refusal=True,
    ),
    "empty-tensor": Defect(
        "shape-unsupported",
        "cannot hold a tensor with no elements (an axis of length 0)",
        empty.detect,
        empty.repro,
        refusal=True,
    ),
    "linear-bias": Defect(
        "input-not-constant",
        "cannot run a Gemm that becomes a linear layer (transB=1 or a constant B) with a bias, "
        "unless B and the bias are constants and the bias is a vector",
        linear.detect,
        linear.repro,
        refusal=True,
    ),
    "passthrough-graph": Defect(
        "graph-unsupported",
        "cannot convert a graph output that is a graph input passed through no-op nodes "
        "(Identity, identity Transpose): the converter removes them",
        passthrough.detect,
        passthrough.repro,
        refusal=True,
    ),
    "gather-index-list": Defect(
        "input-not-scalar",
        "maps a Gather of a run-time tensor to a select of one index: with a vector of indices "
        "it returns one slice, with a matrix it fails to convert",
        gather.detect,
        gather.repro,
        fix=gather.REWRITE_GATHER,
    ),
    "deconv-runtime-weight": Defect(
        "input-not-constant",
        "runs a ConvTranspose right only with a constant weight: a 2-D one with a run-time "
        "weight of more than one channel returns wrong values, a 3-D one fails to convert",
        deconv.detect,
        deconv.repro,
        fix_for=deconv.fix_for,
    ),
    "resize-nearest-mode": Defect(
        "attribute-unsupported",
        "cannot convert a nearest Resize with nearest_mode written out as another value than "
        "'floor', even ONNX's default 'round_prefer_floor'",
        resize.detect,
        resize.repro,
        refusal=True,
        fix_for=resize.fix_for,
    ),
    "resize-nearest-index": Defect(
        "runtime-defect",
        "picks the source pixel of a nearest Resize by rounding y * in/out down, whatever the "
        "coordinate transformation and rounding mode say",
        resize_index.detect,
        resize_index.repro,
    ),
    "split-uneven-parts": Defect(
        "shape-unsupported",
        "puts the shorter part of an uneven Split by num_outputs first, where ONNX makes the "
        "last part the shorter one",
        split.detect,
        split.repro,
        fix=split.WRITE_SPLIT_SIZES,
    ),
    "reduce-axes-input": Defect(
        "input-unsupported",
        "drops the axes of a reduction given them as an input (ReduceSum-13, the other "
        "reductions from 18) and returns the tensor unreduced, except over H and W or every axis",
        reduce_axes.detect,
        reduce_axes.repro,
    ),
}


def defect_violations(ctx: Context, node: ir.Node, graph_name: str, index: int) -> list[Violation]:
    """One violation per defect of the profile that ``node`` hits."""
    found = []
    for name in ctx.profile.graph.defects:
        defect = DEFECTS[name]
        message = defect.detect(ctx, node, node_label(ctx, node, index))
        if message:
            fix = defect.fix_for(ctx, node) if defect.fix_for is not None else defect.fix
            found.append(node_violation(ctx, node, index, defect.rule, message,
                                        fix=fix, graph=graph_name))  # fmt: skip
    return found


def repro(name: str) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """A minimal model and feeds on which a runtime with defect ``name`` differs from ONNX
    (returns other values, or refuses it)."""
    made = DEFECTS[name].repro()
    return made.model, made.feeds
