"""First-divergence bisection: the first node, in topological order, whose output drifts.

Marking every tensor as an output at once (Polygraphy's mark-all) needs memory for every
activation of the network. Here the tensors are compared in topological order, a few at a
time: each run asks both runners for a chunk of intermediate tensors whose estimated size
fits a byte budget, on a copy of the graph pruned to what those tensors need, and the scan
stops at the first tensor out of tolerance. Every sample is run for every chunk. Sizes come
from static shapes, from symbolic dims bound by the feeds and by the tensors already measured
(a detector's image size), else from the largest tensor of the last run.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnx_ir as ir

from nnport.backends.base import ModelSource, Runner
from nnport.model.io import weight_bytes
from nnport.verify.metrics import MetricsAccumulator, TensorMetrics, Tolerance

logger = logging.getLogger(__name__)

RunnerFactory = Callable[[str, ModelSource], Runner]
MIN_BUDGET_BYTES = 8 * 1024 * 1024
MAX_CHUNK = 64
_FLOAT_TYPES = {
    onnx.TensorProto.FLOAT,
    onnx.TensorProto.FLOAT16,
    onnx.TensorProto.BFLOAT16,
    onnx.TensorProto.DOUBLE,
}


@dataclass(frozen=True)
class BisectResult:
    """Where the candidate first diverges, with the error of every tensor compared up to it.

    ``tensors`` lists the compared tensors in topological order (``position`` indexes it), so
    the growth of the error along the network can be plotted. ``runs`` is the number of chunk
    runs per side; ``budget_bytes`` the bound on extra tensors fetched per run.
    """

    found: bool
    node: str | None
    op: str | None
    tensor: str | None
    position: int | None
    tensors: tuple[TensorMetrics, ...]
    compared: int
    total: int
    runs: int
    samples: int
    budget_bytes: int
    message: str


@dataclass(frozen=True)
class _Tensor:
    name: str
    node: str
    op: str
    dims: tuple[int | str | None, ...] | None = None  # None: rank unknown; str: a symbol
    itemsize: int = 4


class _Sizes:
    """Estimated byte sizes of the tensors to fetch: static shapes; symbolic dims bound from
    the feeds and from every tensor measured so far (dims that shape inference named alike are
    equal: a detector's image size, a batch); else the largest tensor of the last run."""

    def __init__(self, inputs: dict[str, _Tensor], feeds: Sequence[dict[str, np.ndarray]]):
        self.bound: dict[str, int] = {}
        self.recent = 1
        for feed in feeds[:1]:
            for name, array in feed.items():
                if name in inputs:
                    self.learn(inputs[name], array.shape)
                self.recent = max(self.recent, array.nbytes)

    def chunk(self, tensors: Sequence[_Tensor], start: int, budget: int) -> list[_Tensor]:
        """The tensors from ``start`` on whose estimated sizes fit ``budget`` together (at
        least one, at most MAX_CHUNK): what one run fetches."""
        chunk: list[_Tensor] = []
        total = 0
        for tensor in tensors[start : start + MAX_CHUNK]:
            size = self.estimate(tensor)
            if chunk and total + size > budget:
                break
            chunk.append(tensor)
            total += size
        return chunk

    def estimate(self, tensor: _Tensor) -> int:
        """Static or bound dims give the size; else the largest tensor of the last run."""
        if tensor.dims is not None:
            sizes = [d if isinstance(d, int) else self.bound.get(d or "") for d in tensor.dims]
            if all(isinstance(d, int) for d in sizes):
                return int(math.prod(sizes)) * tensor.itemsize  # type: ignore[arg-type]
        return self.recent

    def learn(self, tensor: _Tensor, shape: tuple[int, ...]) -> None:
        """Bind the symbols of ``tensor``'s dims to the sizes of a measured array."""
        if tensor.dims is None or len(tensor.dims) != len(shape):
            return
        for dim, size in zip(tensor.dims, shape, strict=True):
            if isinstance(dim, str):
                self.bound[dim] = int(size)

    def measured(self, chunk: Sequence[_Tensor], shapes: dict[str, tuple[int, ...]]) -> None:
        """Learn from a run: every fetched tensor's dims, and its largest size."""
        for tensor in chunk:
            self.learn(tensor, shapes[tensor.name])
        self.recent = max(
            (math.prod(shapes[t.name]) * t.itemsize for t in chunk), default=self.recent
        )


def _value_types(proto: onnx.ModelProto) -> dict[str, onnx.ValueInfoProto]:
    graph = proto.graph
    return {v.name: v for v in [*graph.input, *graph.value_info, *graph.output]}


def _dims(info: onnx.ValueInfoProto | None) -> tuple[tuple[int | str | None, ...] | None, int]:
    """Dims of a tensor (ints, symbols, None for unnamed unknowns) and its item size."""
    if info is None or not info.type.HasField("tensor_type"):
        return None, 4
    tensor = info.type.tensor_type
    itemsize = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).itemsize
    if not tensor.HasField("shape"):
        return None, itemsize
    dims = tuple(
        d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tensor.shape.dim
    )
    return dims, itemsize


def _candidates(reference: onnx.ModelProto, candidate: onnx.ModelProto) -> list[_Tensor]:
    """Non-constant floating tensors produced in both graphs, in the reference's node order."""
    types = _value_types(reference)
    produced = {o for n in candidate.graph.node for o in n.output if o}
    constant = {t.name for t in reference.graph.initializer}
    tensors = []
    for index, node in enumerate(reference.graph.node):
        inputs = [i for i in node.input if i]
        if node.op_type == "Constant" or all(i in constant for i in inputs):
            constant.update(o for o in node.output if o)
            continue
        for out in node.output:
            info = types.get(out)
            elem = info.type.tensor_type.elem_type if info is not None else None
            if not out or out not in produced or (elem and elem not in _FLOAT_TYPES):
                continue
            dims, itemsize = _dims(info)
            label = node.name or f"{node.op_type}_{index}"
            tensors.append(_Tensor(out, label, node.op_type, dims, itemsize))
    return tensors


def _graph_inputs(proto: onnx.ModelProto) -> dict[str, _Tensor]:
    """The graph inputs as tensors (their symbolic dims are bound from the feeds)."""
    found = {}
    for value in proto.graph.input:
        dims, itemsize = _dims(value)
        found[value.name] = _Tensor(value.name, "", "", dims, itemsize)
    return found


def _subgraph_names(node: onnx.NodeProto) -> Iterator[str]:
    """Every tensor name a node's subgraphs read (outer-scope references included)."""
    for attr in node.attribute:
        graphs = ([attr.g] if attr.HasField("g") else []) + list(attr.graphs)
        for graph in graphs:
            for inner in graph.node:
                yield from (i for i in inner.input if i)
                yield from _subgraph_names(inner)


def _prefix(full: onnx.ModelProto, outputs: Sequence[str]) -> onnx.ModelProto:
    """A copy of ``full`` whose outputs are ``outputs``, keeping only the nodes they need."""
    types = _value_types(full)
    needed = set(outputs)
    keep: list[onnx.NodeProto] = []
    for node in reversed(full.graph.node):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(i for i in node.input if i)
            needed.update(_subgraph_names(node))
    keep.reverse()
    model = onnx.ModelProto()
    model.ir_version = full.ir_version
    model.producer_name = "nnport-bisect"
    model.opset_import.extend(full.opset_import)
    model.functions.extend(full.functions)
    graph = model.graph
    graph.name = full.graph.name
    initializers = {t.name for t in full.graph.initializer}
    graph.input.extend(
        i for i in full.graph.input if i.name not in initializers or i.name in needed
    )
    graph.initializer.extend(t for t in full.graph.initializer if t.name in needed)
    graph.node.extend(keep)
    for name in outputs:
        info = types.get(name)
        graph.output.append(
            info if info is not None else onnx.helper.make_empty_tensor_value_info(name)
        )
    return model


def _skeleton(model: ir.Model, path: Path) -> onnx.ModelProto:
    """Save ``model`` with external weights beside ``path``; its shape-inferred graph proto.

    The proto refers to the weights file, so it stays small however large the model is.
    """
    ir.save(
        model,
        path,
        external_data=path.name + ".data",
        size_threshold_bytes=1024,
        max_in_flight_bytes=64 * 1024 * 1024,
    )
    proto = onnx.load(str(path), load_external_data=False)
    try:
        return onnx.shape_inference.infer_shapes(proto, data_prop=True)
    except Exception as exc:  # sizes then come from measurement
        logger.info("shape inference failed (%s); tensor sizes will be measured", exc)
        return proto


def bisect_models(
    reference_model: ir.Model,
    candidate_model: ir.Model,
    feeds: Sequence[dict[str, np.ndarray]],
    make: RunnerFactory,
    tolerance: Tolerance,
    *,
    budget_bytes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BisectResult:
    """Scan the reference's tensors in topological order; stop at the first out of tolerance.

    ``make(side, model_path)`` builds the runner for ``"reference"`` or ``"candidate"``;
    ``progress(compared, total)`` is called after each chunk run.
    """
    budget = budget_bytes or max(MIN_BUDGET_BYTES, int(0.15 * weight_bytes(reference_model)))
    work = Path(tempfile.mkdtemp(prefix="nnport-bisect-"))
    try:
        # Weights go to disk once; every prefix model then refers to them as external data,
        # so no chunk copies the weights in memory (the runtimes load what they need).
        ref_full = _skeleton(reference_model, work / "reference.onnx")
        same = candidate_model is reference_model
        cand_full = ref_full if same else _skeleton(candidate_model, work / "candidate.onnx")
        tensors = _candidates(ref_full, cand_full)
        sizes = _Sizes(_graph_inputs(ref_full), feeds)
        compared: list[TensorMetrics] = []
        start = runs = 0
        while start < len(tensors):
            chunk = sizes.chunk(tensors, start, budget)
            results, shapes = _run_chunk(
                ref_full, cand_full, same, chunk, feeds, make, tolerance, work
            )
            sizes.measured(chunk, shapes)
            runs += 1
            if progress is not None:
                progress(len(compared) + len(results), len(tensors))
            for tensor_metrics in results:
                compared.append(tensor_metrics)
                if not tensor_metrics.passed:
                    where = f"node {tensor_metrics.node!r} ({tensor_metrics.op})"
                    return BisectResult(
                        found=True,
                        node=tensor_metrics.node,
                        op=tensor_metrics.op,
                        tensor=tensor_metrics.name,
                        position=len(compared) - 1,
                        tensors=tuple(compared),
                        compared=len(compared),
                        total=len(tensors),
                        runs=runs,
                        samples=len(feeds),
                        budget_bytes=budget,
                        message=f"first divergence at {where}, output {tensor_metrics.summary()}",
                    )
            start += len(chunk)
        return BisectResult(
            found=False,
            node=None,
            op=None,
            tensor=None,
            position=None,
            tensors=tuple(compared),
            compared=len(compared),
            total=len(tensors),
            runs=runs,
            samples=len(feeds),
            budget_bytes=budget,
            message=(
                f"all {len(compared)} intermediate tensors agree within tolerance"
                if tensors
                else "the two models share no intermediate tensor names, so nothing could be "
                "compared (bisect matches tensors by name)"
            ),
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run_chunk(
    ref_full: onnx.ModelProto,
    cand_full: onnx.ModelProto,
    same: bool,
    chunk: list[_Tensor],
    feeds: Sequence[dict[str, np.ndarray]],
    make: RunnerFactory,
    tolerance: Tolerance,
    work: Path,
) -> tuple[list[TensorMetrics], dict[str, tuple[int, ...]]]:
    """Compare the tensors of ``chunk`` on every feed; return metrics and each tensor's
    largest shape over the feeds."""
    names = [t.name for t in chunk]
    # The prefix files sit beside the weights files their initializers point at.
    ref_path = work / "reference.prefix.onnx"
    onnx.save(_prefix(ref_full, names), ref_path)
    cand_path = ref_path
    if not same:
        cand_path = work / "candidate.prefix.onnx"
        onnx.save(_prefix(cand_full, names), cand_path)
    acc = MetricsAccumulator(tolerance)
    shapes: dict[str, tuple[int, ...]] = {}
    with make("reference", ref_path) as ref_runner, make("candidate", cand_path) as cand_runner:
        for feed in feeds:
            expected = ref_runner.infer(feed)
            got = cand_runner.infer(feed)
            for name in names:
                shape = tuple(int(d) for d in expected[name].shape)
                if name not in shapes or math.prod(shape) > math.prod(shapes[name]):
                    shapes[name] = shape
                acc.add(name, expected[name], got[name])
            del expected, got
    logger.info("bisect: compared %d tensor(s) up to %s", len(names), names[-1])
    return [acc.result(t.name, node=t.node, op=t.op) for t in chunk], shapes
