"""Range scan: every floating tensor of a model run in fp32, against a number format's limits
(|x| above the largest finite value overflows; nonzero values that round to zero underflow).

The tensors are fetched in topological order a chunk at a time within a byte budget, on pruned
copies of the graph, as bisect does (bounded memory; weights written to disk once).
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnx_ir as ir

from nnport.backends.base import ModelSource, Runner
from nnport.model.io import weight_bytes
from nnport.precision.formats import get_format, out_of_range
from nnport.verify.bisect import (
    MIN_BUDGET_BYTES,
    _candidates,
    _graph_inputs,
    _prefix,
    _Sizes,
    _skeleton,
    _Tensor,
)

logger = logging.getLogger(__name__)

MAX_LISTED = 50


@dataclass(frozen=True)
class TensorRange:
    """One tensor's range in fp32 over the samples, against the format's limits."""

    name: str
    node: str
    op: str
    max_abs: float
    over_range: int
    underflow: int
    size: int


@dataclass(frozen=True)
class RangeScan:
    """The floating tensors of the model that leave the format's range, in topological order.

    ``over`` lists the tensors with values above ``limit`` (first ``MAX_LISTED``);
    ``largest`` is the tensor with the largest magnitude; ``underflow_tensors`` counts
    tensors with nonzero values that become zero in the format.
    """

    precision: str
    limit: float
    scanned: int
    runs: int
    over: tuple[TensorRange, ...]
    over_count: int
    underflow_tensors: int
    largest: TensorRange | None

    @property
    def first_over(self) -> TensorRange | None:
        """The first tensor, in topological order, that overflows the format."""
        return self.over[0] if self.over else None


def scan_ranges(
    model: ir.Model,
    feeds: Sequence[dict[str, np.ndarray]],
    make: Callable[[ModelSource], Runner],
    precision: str,
    *,
    budget_bytes: int | None = None,
) -> RangeScan:
    """Run ``model`` (fp32, on ``make(path)``'s runner) over ``feeds`` chunk by chunk and
    measure every floating tensor against ``precision``'s limits."""
    fmt = get_format(precision)
    budget = budget_bytes or max(MIN_BUDGET_BYTES, int(0.15 * weight_bytes(model)))
    work = Path(tempfile.mkdtemp(prefix="nnport-ranges-"))
    try:
        full = _skeleton(model, work / "model.onnx")
        tensors = _candidates(full, full)
        sizes = _Sizes(_graph_inputs(full), feeds)
        over: list[TensorRange] = []
        over_count = underflows = runs = 0
        largest: TensorRange | None = None
        start = 0
        while start < len(tensors):
            chunk = sizes.chunk(tensors, start, budget)
            ranges, shapes = _run_chunk(full, chunk, feeds, make, fmt.name, work)
            sizes.measured(chunk, shapes)
            runs += 1
            for found in ranges:
                if largest is None or found.max_abs > largest.max_abs:
                    largest = found
                if found.over_range:
                    over_count += 1
                    if len(over) < MAX_LISTED:
                        over.append(found)
                underflows += found.underflow > 0
            start += len(chunk)
        return RangeScan(
            precision=fmt.name,
            limit=fmt.max,
            scanned=len(tensors),
            runs=runs,
            over=tuple(over),
            over_count=over_count,
            underflow_tensors=underflows,
            largest=largest,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run_chunk(
    full: onnx.ModelProto,
    chunk: list[_Tensor],
    feeds: Sequence[dict[str, np.ndarray]],
    make: Callable[[ModelSource], Runner],
    precision: str,
    work: Path,
) -> tuple[list[TensorRange], dict[str, tuple[int, ...]]]:
    names = [t.name for t in chunk]
    path = work / "prefix.onnx"
    onnx.save(_prefix(full, names), path)
    peak = dict.fromkeys(names, 0.0)
    counts = {n: [0, 0, 0] for n in names}
    shapes: dict[str, tuple[int, ...]] = {}
    with make(path) as runner:
        for feed in feeds:
            got = runner.infer(feed)
            for name in names:
                array = np.asarray(got[name])
                shape = tuple(int(d) for d in array.shape)
                if name not in shapes or math.prod(shape) > math.prod(shapes[name]):
                    shapes[name] = shape
                finite = array[np.isfinite(array)]
                if finite.size:
                    peak[name] = max(peak[name], float(np.abs(finite).max()))
                over, under = out_of_range(array, precision)
                counts[name][0] += over
                counts[name][1] += under
                counts[name][2] += array.size
            del got
    return [TensorRange(t.name, t.node, t.op, peak[t.name], *counts[t.name]) for t in chunk], shapes
