"""MindSpore sources: a network (MODULE:FACTORY) and its checkpoint exported with MindSpore's own
ONNX exporter (``mindspore.onnx.export``), ops it cannot export replaced by exportable equivalents
first, and the result verified against MindSpore's own forward pass before it is written."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import onnx_ir as ir

from nnport.errors import BackendUnavailableError, ModelLoadError, ModelSaveError, UsageError
from nnport.recipes.export import ExportedModel, ExportResult
from nnport.recipes.load import import_factory
from nnport.recipes.source_export import (
    InputSpec,
    Timing,
    bucket_path,
    native_stderr_quiet,
    parse_input_shapes,
    sample_inputs,
    timed_calls,
    verify,
    write_all,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MindSporeExportOptions:
    """Input shapes and dtypes (one model per --shape; several make buckets), opset, tolerances."""

    shapes: tuple[str, ...] = ()
    dtypes: dict[str, str] | None = None  # input name -> numpy dtype (default float32)
    int_high: int | None = None  # integer inputs take values in [0, int_high)
    rtol: float = 1e-4
    atol: float = 1e-5
    seed: int = 0
    samples: int = 2


@dataclass(frozen=True)
class Substitution:
    """An op MindSpore cannot export, replaced (in the network, before export) by an equivalent."""

    cell: str
    op: str
    replacement: str


@dataclass(frozen=True)
class MindSporePattern:
    """A MindSpore-specific op as it appears in the ONNX model, and what nnport does about it."""

    pattern: str
    onnx_ops: tuple[str, ...]
    nodes: int
    note: str


@dataclass(frozen=True)
class MindSporeExport:
    """The export, what was substituted, MindSpore patterns found, and the source's timings."""

    export: ExportResult
    substitutions: tuple[Substitution, ...]
    patterns: tuple[MindSporePattern, ...]
    timing: Timing


def require_mindspore() -> ModuleType:
    """mindspore on the CPU, quiet, or a one-line error naming the extra."""
    os.environ.setdefault("GLOG_v", "3")  # MindSpore's native log: errors only
    try:
        with native_stderr_quiet():
            import mindspore
    except ImportError as exc:
        raise BackendUnavailableError(
            "exporting from MindSpore needs mindspore", hint="pip install 'nnport[mindspore]'"
        ) from exc
    global _CONFIGURED
    if not _CONFIGURED:
        _CONFIGURED = True
        try:
            mindspore.set_context(mode=mindspore.GRAPH_MODE, save_graphs_path=_graphs_dir())
            mindspore.set_device("CPU")
        except RuntimeError:  # the caller ran MindSpore already and chose its device itself
            logger.debug("MindSpore's runtime was set up before nnport's export")
    return mindspore


_CONFIGURED = False


@contextlib.contextmanager
def _in_private_dir() -> Iterator[None]:
    """MindSpore writes rank_0/om/analyze_fail.ir into the current folder when a graph fails to
    compile, and prints its C++ stack: both go to a private folder and nowhere for the call."""
    with contextlib.chdir(_graphs_dir()), native_stderr_quiet():
        yield


def _graphs_dir() -> str:
    """Where MindSpore writes its IR dumps (analyze_fail.ir): a private folder, not the user's
    current one."""
    global _GRAPHS
    if not _GRAPHS:
        import atexit
        import shutil

        _GRAPHS = tempfile.mkdtemp(prefix="nnport-mindspore-")
        atexit.register(shutil.rmtree, _GRAPHS, True)
    return _GRAPHS


_GRAPHS = ""


def _l2normalize_cell(ms: ModuleType, axis: Any, epsilon: float) -> Any:
    """x / sqrt(max(sum(x*x, axis), epsilon)): MindSpore's L2Normalize, its epsilon kept
    (ONNX's LpNormalization has none), in ops MindSpore's exporter writes."""
    from mindspore import nn, ops

    axes = tuple(axis) if isinstance(axis, (list, tuple)) else (int(axis),)

    class L2NormalizeExportable(nn.Cell):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.sum = ops.ReduceSum(keep_dims=True)
            self.eps = ms.Tensor(np.float32(epsilon))

        def construct(self, x: Any) -> Any:
            return x / ops.sqrt(ops.maximum(self.sum(x * x, axes), self.eps))

    return L2NormalizeExportable()


def substitute_unexportable(net: Any) -> list[Substitution]:
    """Replace, in place, every op of ``net`` MindSpore's ONNX exporter refuses and nnport has an
    exportable equivalent for (today: ``ops.L2Normalize``)."""
    ms = require_mindspore()
    from mindspore import ops

    done = []
    for name, cell in net.cells_and_names():
        for attr, value in list(vars(cell).items()):
            if isinstance(value, ops.L2Normalize):
                axis, epsilon = value.axis, float(value.epsilon)
                setattr(cell, attr, _l2normalize_cell(ms, axis, epsilon))
                done.append(Substitution(f"{name or 'net'}.{attr}", "L2Normalize",
                                         f"ReduceSum·Maximum(epsilon={epsilon:g})·Sqrt·Div"))  # fmt: skip
    return done


def load_network(spec: str, checkpoint: str | Path | None) -> Any:
    """``MODULE:FACTORY`` -> the MindSpore network with the checkpoint's parameters loaded."""
    ms = require_mindspore()
    net = import_factory(spec)()
    if not isinstance(net, ms.nn.Cell):
        raise UsageError(f"{spec} returned {type(net).__name__}, not a mindspore.nn.Cell")
    if checkpoint is not None:
        path = Path(checkpoint).resolve()
        if not path.is_file():
            raise ModelLoadError(f"no checkpoint at {path}")
        try:
            params = ms.load_checkpoint(str(path))
            missing, _ = ms.load_param_into_net(net, params)
        except Exception as exc:  # a corrupted or foreign file
            first = " ".join(str(exc).split())[:200]
            raise ModelLoadError(f"{path} is not a MindSpore checkpoint: {first}") from exc
        if missing:
            raise ModelLoadError(
                f"{path} lacks parameters of the network: {', '.join(missing[:5])}"
            )
    net.set_train(False)
    return net


def _input_names(net: Any, count: int) -> list[str]:
    import inspect

    params = [p for p in inspect.signature(net.construct).parameters if p != "self"]
    return params[:count] if len(params) >= count else [f"input_{i}" for i in range(count)]


def _patterns(model: ir.Model, substitutions: Sequence[Substitution]) -> list[MindSporePattern]:
    ops = [n.op_type for n in model.graph]
    found = []
    if "GatherElements" in ops:
        found.append(MindSporePattern(
            "GatherD", ("GatherElements",), ops.count("GatherElements"),
            "GatherD has the meaning of ONNX GatherElements; where a target lacks it, nnport fix "
            "decomposes it (decompose-gather-elements) and keeps its int64 indices in range",
        ))  # fmt: skip
    if any(s.op == "L2Normalize" for s in substitutions):
        found.append(MindSporePattern(
            "L2Normalize", ("ReduceSum", "Max", "Sqrt", "Div"), len(substitutions),
            "exported as its arithmetic with epsilon kept (LpNormalization has no epsilon); "
            "nnport fix fuses it back to LpNormalization where a target has it (fuse-lpnorm)",
        ))  # fmt: skip
    return found


def export_mindspore(spec: str, checkpoint: str | Path | None, out: str | Path,
                     options: MindSporeExportOptions) -> MindSporeExport:  # fmt: skip
    """Export a MindSpore network to ONNX with MindSpore's exporter; verify every file against
    MindSpore's forward pass; write only when all match (several shapes: buckets.json)."""
    ms = require_mindspore()
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise UsageError(f"output {out} should end in .onnx")
    if not out.parent.exists():
        raise ModelSaveError(f"output folder {out.parent} does not exist")
    if not options.shapes:
        raise UsageError("give --shape: a MindSpore network declares no input shapes")
    net = load_network(spec, checkpoint)
    substitutions = substitute_unexportable(net)
    count = len(
        parse_input_shapes(options.shapes[0], _input_names(net, options.shapes[0].count(",") + 1))
    )
    names = _input_names(net, count)
    dtypes = options.dtypes or {}
    prepared, timing, patterns = [], Timing(0.0, 0.0), []
    for index, text in enumerate(options.shapes):
        shapes = parse_input_shapes(text, names)
        specs = [
            InputSpec(n, shapes[n], dtypes.get(n, "float32"), high=options.int_high) for n in names
        ]

        def forward(feeds: dict[str, np.ndarray], specs: list = specs) -> list[np.ndarray]:
            with _in_private_dir():
                result = net(*[ms.Tensor(feeds[s.name]) for s in specs])
            items = result if isinstance(result, (tuple, list)) else (result,)
            return [r.asnumpy() for r in items]

        example = sample_inputs(specs, np.random.default_rng(options.seed))

        def call(example: dict[str, np.ndarray] = example) -> object:
            return forward(example)

        try:
            if index == 0:
                timing = timed_calls(call)
            else:
                call()
        except Exception as exc:  # the network refuses these inputs: the user's to fix
            line = next((ln for ln in str(exc).splitlines() if ln.strip()), str(exc))[:300]
            raise UsageError(
                f"the MindSpore network fails on inputs {text!r}: {line}",
                hint="check --shape and --input-dtype (indices are int64 or int32)",
            ) from exc
        with tempfile.TemporaryDirectory(prefix="nnport-ms-") as tmp:
            file = Path(tmp) / "model.onnx"
            try:
                with _in_private_dir():
                    ms.onnx.export(net, *[ms.Tensor(example[n]) for n in names],
                                   file_name=str(file), input_names=list(names))  # fmt: skip
            except Exception as exc:
                line = " ".join(str(exc).split())[:300]
                raise ModelSaveError(f"MindSpore's ONNX exporter failed: {line}") from exc
            model = ir.load(file)
        model.metadata_props.update({"nnport.source": spec})
        max_abs, max_rel = verify(model, forward, specs, rtol=options.rtol, atol=options.atol,
                                  samples=options.samples, seed=options.seed)  # fmt: skip
        path = bucket_path(out, shapes, len(options.shapes) > 1)
        first = next(iter(shapes.values()))
        prepared.append((path, model, ExportedModel(str(path), first, False, max_abs, max_rel,
                                                    (first[0],)), shapes))  # fmt: skip
        patterns = _patterns(model, substitutions)
    manifest = write_all(prepared, str(checkpoint or spec), (options.rtol, options.atol))
    opset = next((v for d, v in prepared[0][1].opset_imports.items() if d in ("", "ai.onnx")), 0)
    result = ExportResult(spec, opset, options.rtol, options.atol,
                          tuple(p[2] for p in prepared), "mindspore", manifest)  # fmt: skip
    return MindSporeExport(result, tuple(substitutions), tuple(patterns), timing)
