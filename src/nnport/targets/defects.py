"""Measured defects of a target's runtime: patterns no op entry can state, each with a detector,
a rule and a minimal repro.

A profile lists the defects its runtime has (``[graph] defects``, names from ``DEFECTS``); each
name has a detector and a minimal model (``Repro``), so ``benchmarks/probe_profiles.py`` and
``scripts/gen_onnxruntime_profile.py`` record a defect only while it still reproduces on the
installed runtime, and a test fails when a runtime upgrade fixes it. Two kinds:

- wrong results with no error: ``split-uneven-parts`` (``nnport.targets.defect_split``, rule
  ``shape-unsupported``, ncnn), ``reduce-axes-input`` (``nnport.targets.defect_reduce_axes``,
  rule ``input-unsupported``, ncnn); rule ``runtime-defect``: ``resize-nearest-index``
  (``nnport.targets.defect_resize_index``, ncnn), ``if-empty-constant``
  (``nnport.targets.defect_if_empty``), ``tile-runtime-repeats`` (``nnport.targets.defect_tile``)
  and ``pool-ceil-extra-window`` (``nnport.targets.defect_pool``), OpenVINO and ncnn;
  ``avgpool-ceil-extra-window`` (the same module), ncnn;
- refusals, each with its own rule, recorded only while the runtime refuses the repro and runs
  its control: ``dynamic-rank`` (``nnport.targets.dynamic_rank``, OpenVINO),
  ``reduce-empty-bool`` and ``attention-mask-length(-padded)`` (``nnport.targets.defect_kernels``,
  shape checks kernels make when they run); ``empty-tensor`` (``nnport.targets.defect_empty``,
  ncnn); ``passthrough-graph`` (``nnport.targets.defect_passthrough``, ncnn);
  ``linear-bias`` (``nnport.targets.defect_linear``, ncnn); ``resize-nearest-mode``
  (``nnport.targets.defect_resize``, ncnn);
- both (a wrong result or a refusal, by the shape of the input), recorded while the runtime
  returns a wrong result on the repro: ``gather-index-list`` (``nnport.targets.defect_gather``)
  and ``deconv-runtime-weight`` (``nnport.targets.defect_deconv``), ncnn.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import onnx_ir as ir

from nnport.targets import (
    defect_deconv,
    defect_empty,
    defect_gather,
    defect_if_empty,
    defect_kernels,
    defect_linear,
    defect_passthrough,
    defect_pool,
    defect_reduce_axes,
    defect_resize,
    defect_resize_index,
    defect_split,
    defect_tile,
    dynamic_rank,
)
from nnport.targets.batch_axis import node_label, node_violation
from nnport.targets.repro import Repro

if TYPE_CHECKING:
    from pathlib import Path

    import onnx

    from nnport.targets.checker import Context
    from nnport.targets.profile import TargetProfile
    from nnport.targets.violations import Violation

MATERIALIZE_EMPTY_BRANCH = defect_if_empty.MATERIALIZE_EMPTY_BRANCH
empty_branch_outputs = defect_if_empty.empty_branch_outputs


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
        defect_if_empty.detect,
        defect_if_empty.repro,
        fix=MATERIALIZE_EMPTY_BRANCH,
    ),
    "tile-runtime-repeats": Defect(
        "runtime-defect",
        "a Tile with repeats known only at run time returns wrong values when the first axis "
        "is above 1 and three other axes repeat",
        defect_tile.detect,
        defect_tile.repro,
        fix_for=defect_tile.fix_for,
    ),
    "pool-ceil-extra-window": Defect(
        "runtime-defect",
        "a ceil-mode MaxPool keeps a last window that starts in the padding (one row or column "
        "more than ONNX)",
        defect_pool.detect,
        defect_pool.repro,
    ),
    "avgpool-ceil-extra-window": Defect(
        "runtime-defect",
        "a ceil-mode AveragePool keeps a last window that starts in the padding (one row or "
        "column more than ONNX)",
        defect_pool.detect_average,
        defect_pool.repro_average,
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
        defect_kernels.detect_reduce_empty_bool,
        defect_kernels.reduce_empty_bool_repro,
        refusal=True,
    ),
    "attention-mask-length": Defect(
        "shape-unsupported",
        "Attention refuses a mask whose last axis is not the key/value sequence length",
        defect_kernels.detect_attention_mask_length,
        defect_kernels.attention_mask_length_repro,
        refusal=True,
    ),
    "attention-mask-length-padded": Defect(
        "shape-unsupported",
        "Attention refuses a mask whose last axis is not the key/value sequence length, also "
        "with nonpad_kv_seqlen given",
        defect_kernels.detect_attention_mask_length_padded,
        defect_kernels.attention_mask_length_padded_repro,
        refusal=True,
    ),
    "empty-tensor": Defect(
        "shape-unsupported",
        "cannot hold a tensor with no elements (an axis of length 0)",
        defect_empty.detect,
        defect_empty.repro,
        refusal=True,
    ),
    "linear-bias": Defect(
        "input-not-constant",
        "cannot run a Gemm that becomes a linear layer (transB=1 or a constant B) with a bias, "
        "unless B and the bias are constants and the bias is a vector",
        defect_linear.detect,
        defect_linear.repro,
        refusal=True,
    ),
    "passthrough-graph": Defect(
        "graph-unsupported",
        "cannot convert a graph output that is a graph input passed through no-op nodes "
        "(Identity, identity Transpose): the converter removes them",
        defect_passthrough.detect,
        defect_passthrough.repro,
        refusal=True,
    ),
    "gather-index-list": Defect(
        "input-not-scalar",
        "maps a Gather of a run-time tensor to a select of one index: with a vector of indices "
        "it returns one slice, with a matrix it fails to convert",
        defect_gather.detect,
        defect_gather.repro,
        fix=defect_gather.REWRITE_GATHER,
    ),
    "deconv-runtime-weight": Defect(
        "input-not-constant",
        "runs a ConvTranspose right only with a constant weight: a 2-D one with a run-time "
        "weight of more than one channel returns wrong values, a 3-D one fails to convert",
        defect_deconv.detect,
        defect_deconv.repro,
        fix_for=defect_deconv.fix_for,
    ),
    "resize-nearest-mode": Defect(
        "attribute-unsupported",
        "cannot convert a nearest Resize with nearest_mode written out as another value than "
        "'floor', even ONNX's default 'round_prefer_floor'",
        defect_resize.detect,
        defect_resize.repro,
        refusal=True,
        fix_for=defect_resize.fix_for,
    ),
    "resize-nearest-index": Defect(
        "runtime-defect",
        "picks the source pixel of a nearest Resize by rounding y * in/out down, whatever the "
        "coordinate transformation and rounding mode say",
        defect_resize_index.detect,
        defect_resize_index.repro,
    ),
    "split-uneven-parts": Defect(
        "shape-unsupported",
        "puts the shorter part of an uneven Split by num_outputs first, where ONNX makes the "
        "last part the shorter one",
        defect_split.detect,
        defect_split.repro,
        fix=defect_split.WRITE_SPLIT_SIZES,
    ),
    "reduce-axes-input": Defect(
        "input-unsupported",
        "drops the axes of a reduction given them as an input (ReduceSum-13, the other "
        "reductions from 18) and returns the tensor unreduced, except over H and W or every axis",
        defect_reduce_axes.detect,
        defect_reduce_axes.repro,
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


def add_defects(profile: TargetProfile, backend: str) -> TargetProfile:
    """``profile`` with ``[graph] defects`` set to the known defects ``backend`` reproduces now."""
    found = tuple(name for name in DEFECTS if reproduces(name, backend))
    return dataclasses.replace(profile, graph=dataclasses.replace(profile.graph, defects=found))


def reproduces(name: str, backend: str) -> bool:
    """True when ``backend`` has defect ``name``: for a refusal, it refuses the repro and runs
    its control; else it runs the repro and returns other values than ONNX Runtime. A backend
    that fails on a wrong-result repro does not have that defect, it has another."""
    import tempfile
    from pathlib import Path

    defect, made = DEFECTS[name], DEFECTS[name].repro()
    with tempfile.TemporaryDirectory(prefix="nnport-defect-") as tmp:
        if defect.refusal:
            assert made.control is not None, name
            control_feeds = made.feeds if made.control_feeds is None else made.control_feeds
            return not _runs(backend, made.model, made.feeds, Path(tmp)) and _runs(
                backend, made.control, control_feeds, Path(tmp)
            )
        expected = _run("onnxruntime", made.model, made.feeds, Path(tmp))
        try:
            got = _run(backend, made.model, made.feeds, Path(tmp))
        except Exception:
            return False
    return any(
        got[k].shape != v.shape or not np.array_equal(got[k], v) for k, v in expected.items()
    )


def _run(
    backend: str, model: onnx.ModelProto, feeds: dict[str, np.ndarray], tmp: Path
) -> dict[str, np.ndarray]:
    import onnx

    from nnport.backends import make_runner

    path = tmp / f"model-{id(model)}.onnx"
    onnx.save(model, path)
    with make_runner(backend, path) as runner:
        return runner.infer(feeds)


def _runs(backend: str, model: onnx.ModelProto, feeds: dict[str, np.ndarray], tmp: Path) -> bool:
    try:
        _run(backend, model, feeds, tmp)
    except Exception:
        return False
    return True
