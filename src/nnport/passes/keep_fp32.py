"""Verify a fixed model in the device's number format and find the nodes to keep in fp32.

The repair, for a model that breaks in fp16 (or bf16) emulation:

1. the overflow region: every node whose float output leaves the format's range in the fp32
   run, and every node that reads such a value (keeping only the overflowing node is not
   enough: its consumer would read it back in the format, as inf); the region ends at the
   first nodes whose outputs are back in range;
2. if the model still breaks, a search for the nodes that lose precision: two bisections over
   the remaining nodes in graph order (the shortest prefix whose keeping makes the model match,
   then the latest start of that window that still does), as Polygraphy's ``debug precision``
   bisects layers (at most 2·log2(nodes) + 4 model runs), then the runs left in the budget
   2·log2(nodes) + 10 drop inner nodes of that window the model matches without; every run
   is counted in the result.

The mixed model (the keep-set in fp32, the rest in the format) is verified in emulation
(``nnport.precision.emulate``) against the fp32 outputs on the same feeds.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx_ir as ir

from nnport.errors import NnportError
from nnport.passes.keep_search import (
    NOT_COMPUTING,
    KeepSearch,
    bisect_window,
    shrink_window,
    subgraphs,
)
from nnport.passes.verify import run_model

logger = logging.getLogger(__name__)

KEEP_DTYPE_SUFFIX = ".keep_dtype.cfg"


@dataclass(frozen=True)
class PrecisionReport:
    """The verdict in one number format, and the fp32 keep-set that repairs it.

    ``chosen`` says where the format came from ('target default' or '--precision');
    ``error_before`` is the plain model's largest output error in the format (relative to the
    output's largest |value|), ``error`` and ``sqnr_db`` (the lowest output SQNR) those of the
    final (mixed) model, judged against ``min_sqnr_db``; ``runs`` counts candidate keep-sets run (each over every feed),
    ``run_budget`` is 2·log2(nodes) + 10.
    """

    format: str
    mode: str
    chosen: str
    passed: bool
    broke: bool
    error_before: float
    error: float
    min_sqnr_db: float
    sqnr_db: float = math.nan
    overflow: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    searched: tuple[str, ...] = ()
    runs: int = 0
    run_budget: int = 0
    nodes: int = 0
    feeds: int = 0
    keep_file: str = ""
    converter_flags: str = ""
    reason: str = ""
    seconds: float = 0.0

    @property
    def label(self) -> str:
        """'fp16 (emulated)'."""
        return f"{self.format} ({self.mode})"


def keep_file_path(output: str | Path) -> Path:
    """Where the keep-set goes beside the fixed model: OUT's stem + ``.keep_dtype.cfg``."""
    output = Path(output)
    return output.with_name(output.stem + KEEP_DTYPE_SUFFIX)


def keep_file_text(kept: Sequence[str]) -> str:
    """ATC's --keep_dtype file: one operator name of the model handed to ATC per line."""
    return "".join(f"{name}\n" for name in kept)


def cpu_has_bf16() -> bool:
    """True where OpenVINO reports BF16 for the CPU, else where /proc/cpuinfo lists a bf16 unit."""
    from nnport.precision.native import openvino_cpu_capabilities

    capabilities = openvino_cpu_capabilities()
    if capabilities:
        return "BF16" in capabilities
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def target_format(profile: object, requested: str | None) -> tuple[str, str]:
    """(format, where it came from): ``requested`` when given, else the target's default (its
    fallback where the default's condition does not hold on this machine)."""
    from nnport.precision.formats import get_format

    if requested:
        return get_format(requested).name, "--precision"
    precision = getattr(profile, "precision", None)
    if precision is None:
        return "fp32", "target default"
    if precision.requires == "cpu-bf16" and not cpu_has_bf16():
        return precision.fallback, "target default (this CPU has no bf16 units)"
    return precision.default, "target default"


def _named(model: ir.Model) -> None:
    """Give every unnamed node (subgraphs included) a unique name: a keep-set can only name
    named nodes (the converter reads the same names from the written model)."""
    taken = {n.name for n in model.graph.all_nodes() if n.name}
    for index, node in enumerate(model.graph.all_nodes()):
        if node.name:
            continue
        name = f"{node.op_type}_{index}"
        while name in taken:
            name += "_"
        node.name = name
        taken.add(name)


def _float(value: ir.Value | None) -> bool:
    return value is not None and value.dtype == ir.DataType.FLOAT


# Nodes that compute nothing a format could change: their values are weights, rounded once.


def _typed(model: ir.Model) -> ir.Model:
    """A clone with the element types of its intermediate tensors inferred (where ONNX can)."""
    clone = model.clone()
    try:
        from onnx_ir.passes.common import ShapeInferencePass

        ShapeInferencePass()(clone)
    except Exception as exc:  # untyped tensors are then left out of the scans
        logger.info("shape inference failed (%s): only typed tensors are scanned", exc)
    return clone


def _candidates(model: ir.Model, fmt: str) -> list[str]:
    """Main-graph node names, in graph order, whose tensors the format changes: those the
    emulation rounds an input or an output of (a Cast to int64 of a rounded float can give
    another integer), and control-flow nodes with such a node in a subgraph (keeping one keeps
    its subgraphs). Read off ``emulate`` itself, so the search and the emulation agree."""
    from nnport.precision.emulate import emulate

    rounded = emulate(model, fmt)
    marks = (f"__to_{fmt}", f"__from_{fmt}")

    def is_cast(node: ir.Node | None) -> bool:
        return node is not None and node.op_type == "Cast" and (node.name or "").endswith(marks)

    touched: set[str] = set()
    for node in rounded.graph.all_nodes():
        if is_cast(node):
            continue
        reads = any(v is not None and is_cast(v.producer()) for v in node.inputs)
        writes = any(is_cast(user) for v in node.outputs for user, _ in v.uses())
        if reads or writes:
            touched.add(node.name or "")
    names = []
    for node in model.graph:
        inner = {m.name or "" for g in subgraphs(node) for m in g.all_nodes()}
        if node.op_type not in NOT_COMPUTING and (node.name in touched or inner & touched):
            names.append(node.name or "")
    return names


def overflow_region(
    model: ir.Model, feeds: Sequence[Mapping[str, np.ndarray]], fmt: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(nodes whose float outputs leave ``fmt``'s range in fp32, the region to keep in fp32:
    those nodes and every node reading an out-of-range value, weights included)."""
    from nnport.precision.formats import get_format, out_of_range

    spec = get_format(fmt)
    if not spec.is_float or spec.name == "fp32":
        return (), ()
    probe = _typed(model)
    outputs = {v.name for v in probe.graph.outputs}
    for node in probe.graph:
        for value in node.outputs:
            if _float(value) and value.name and value.name not in outputs:
                probe.graph.outputs.append(value)
                outputs.add(value.name)
    _engine, runs = run_model(probe, feeds)
    wide: set[str] = set()
    for run in runs:
        wide |= {name for name, array in run.items() if out_of_range(array, spec)[0]}
    for name, value in probe.graph.initializers.items():
        tensor = value.const_value if _float(value) else None
        if tensor is not None and out_of_range(tensor.numpy(), spec)[0]:
            wide.add(name)
    overflowing: list[str] = []
    region: list[str] = []
    for node in probe.graph:
        writes = any(v.name in wide for v in node.outputs)
        reads = any(v is not None and v.name in wide for v in node.inputs)
        if writes:
            overflowing.append(node.name or "")
        if writes or reads:
            region.append(node.name or "")
    return tuple(overflowing), tuple(region)


def verify_precision(
    model: ir.Model,
    fmt: str,
    feeds: Sequence[Mapping[str, np.ndarray]],
    *,
    chosen: str = "target default",
    min_sqnr_db: float | None = None,
    repair: bool = True,
) -> PrecisionReport:
    """Run ``model`` in ``fmt`` against its fp32 outputs on ``feeds``; when it breaks and
    ``repair``, find the fp32 keep-set (overflow region, then bisection) and verify it.

    ``model`` gets names on its unnamed main-graph nodes (the keep-set names them); nothing
    else in it changes.
    """
    from nnport.precision.formats import DEFAULT_MIN_SQNR_DB, get_format

    start = time.perf_counter()
    spec = get_format(fmt)
    floor = DEFAULT_MIN_SQNR_DB.get(spec.name, math.inf) if min_sqnr_db is None else min_sqnr_db
    nodes = sum(1 for _ in model.graph)
    blank = PrecisionReport(
        format=spec.name, mode="emulated", chosen=chosen, passed=False, broke=False,
        error_before=math.nan, error=math.nan, min_sqnr_db=floor, nodes=nodes,
        run_budget=int(2 * math.log2(max(nodes, 2)) + 10), feeds=len(feeds),
    )  # fmt: skip
    if spec.name == "fp32":
        reason = "fp32: the verification on ONNX Runtime is the device's computation"
        return replace(blank, mode="native", passed=True, error_before=0.0, error=0.0,
                       reason=reason)  # fmt: skip
    if not spec.is_float:
        reason = (
            f"not verified: {spec.name} emulation needs calibration data, which fix does not "
            f"have (nnport evaluate --precision {spec.name} measures it on a dataset)"
        )
        return replace(blank, reason=reason)
    _named(model)
    try:  # the fp32 reference runs as the emulation does: ORT with graph optimizations off
        from nnport.precision.emulate import EmulatedRunner

        with EmulatedRunner(model, "fp32") as runner:
            reference = [runner.infer(dict(f)) for f in feeds]
    except Exception as exc:  # emulation runs on ONNX Runtime, which cannot run the model
        text = " ".join(str(exc).split())[:200]
        return replace(blank, reason=f"not verified: ONNX Runtime cannot run the model ({text}),"
                       f" so nnport cannot emulate {spec.name} for it")  # fmt: skip
    search = KeepSearch(model, spec.name, feeds, reference, floor)

    def done(**fields: object) -> PrecisionReport:
        return replace(blank, runs=search.runs, seconds=time.perf_counter() - start, **fields)  # type: ignore[arg-type]

    try:
        before, sqnr = search.measure(())
        if search.passes(()) or not repair:
            ok = search.passes(())
            reason = "matches" if ok else "breaks (no repair asked for)"
            return done(passed=ok, broke=not ok, error_before=before, error=before,
                        sqnr_db=sqnr, reason=reason)  # fmt: skip
        overflowing, region = overflow_region(model, feeds, spec.name)
        search.runs += 1  # the fp32 run that read every tensor's range
        searched: tuple[str, ...] = ()
        kept = region
        if not (region and search.passes(region)):
            rest = [n for n in _candidates(model, spec.name) if n not in region]
            if not search.passes([*region, *rest]):
                err, sqnr = search.measure([*region, *rest])
                reason = (
                    f"no keep-set repairs it: even every float node in fp32 leaves an error of "
                    f"{err:.3g} (graph inputs or outputs lose it)"
                )
                return done(broke=True, error_before=before, error=err, sqnr_db=sqnr,
                            overflow=overflowing, reason=reason)  # fmt: skip
            searched = bisect_window(search, region, rest)
            searched = shrink_window(search, region, searched, blank.run_budget - 1)
            kept = (*region, *searched)
        err, sqnr = search.measure(kept)
        ok = search.passes(kept)
    except NnportError:
        raise
    except Exception as exc:  # the emulated model does not run: no verdict, not a crash
        text = " ".join(str(exc).split())[:300]
        return done(reason=f"not verified: the emulated model does not run: {text}")
    order = {n.name: i for i, n in enumerate(model.graph)}
    ordered = tuple(sorted(set(kept), key=lambda n: order.get(n, 0)))
    reason = (
        f"repaired: {len(ordered)} node(s) kept in fp32"
        if ok
        else f"the keep-set leaves an SQNR of {sqnr:.1f} dB"
    )
    return done(passed=ok, broke=True, error_before=before, error=err, sqnr_db=sqnr,
                overflow=overflowing, kept=ordered, searched=searched, reason=reason)  # fmt: skip


def precision_verdict(
    model: ir.Model,
    profile: object,
    feeds: Sequence[Mapping[str, np.ndarray]],
    requested: str | None,
    *,
    repair: bool = True,
) -> PrecisionReport:
    """``verify_precision`` of a fixed model in the format ``requested`` or the target's
    default, with the converter option that selects it (ATC's --precision_mode)."""
    from nnport.passes.verify import adapt_feeds

    fmt, chosen = target_format(profile, requested)
    report = verify_precision(
        model, fmt, [adapt_feeds(model, f) for f in feeds], chosen=chosen, repair=repair
    )
    precision = getattr(profile, "precision", None)
    flags = precision.flags.get(fmt, "") if precision is not None else ""
    report = replace(report, converter_flags=flags)
    if report.kept and (precision is None or precision.keep_fp32 != "keep-dtype"):
        # A keep-set the converter cannot apply repairs nothing on the device.
        name = getattr(profile, "name", "the target")
        whole = precision.flags.get("fp32", "") if precision is not None else ""
        reason = (
            f"breaks in {fmt}, and {name} cannot keep single nodes in fp32 (the {len(report.kept)}"
            f" node(s) that would repair it are listed): run the whole model in fp32"
            + (f" ({whole})" if whole else "")
            + ", or verify with --precision fp32"
        )
        report = replace(report, passed=False, reason=reason)
    return report


def write_keep_file(
    report: PrecisionReport, output: str | Path, profile: object
) -> PrecisionReport:
    """Write the verified keep-set beside ``output`` as the converter's file (ATC's
    --keep_dtype) and return the report naming it; a target without such a file gets the
    reason why the list is only reported."""
    precision = getattr(profile, "precision", None)
    if not (report.passed and report.kept) or precision is None:
        return report
    if precision.keep_fp32 != "keep-dtype":  # precision_verdict failed such a report already
        return report
    from nnport.model.io import atomic_path

    path = keep_file_path(output)
    with atomic_path(path, mode=0o644) as tmp:
        tmp.write_text(keep_file_text(report.kept), encoding="utf-8")
    return replace(report, keep_file=str(path))
