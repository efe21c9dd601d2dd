"""`nnport targets probe`: run the ONNX backend node suite through a runtime and derive its profile.

Each case of ``onnx.backend.test.loader.load_model_tests(kind="node")`` is run at the opset it
was written for and, where ``onnx.version_converter`` can, converted down to older opsets (17, 13
and 11 by default), so the profile says which operator *versions* convert and match, not only
which operator names. Cases run in worker subprocesses (``probe_worker``): a runtime that crashes
on a case costs that case, never the probe.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.metadata
import logging
import pickle
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import onnx

from nnport.errors import UsageError
from nnport.targets.probe_batch import BATCH_ONE, batch_one_variant, leading_dim
from nnport.targets.probe_exporter import PREFIX, exporter_cases
from nnport.targets.probe_nodes import NodeUse, _domain_opsets, graph_io, node_uses

__all__ = ["CaseOutcome", "NodeUse", "ProbeResult", "load_cases", "node_uses", "probe_backend"]

logger = logging.getLogger(__name__)

PROBE_BACKENDS = ("onnxruntime", "openvino", "ncnn")
DEFAULT_OPSETS = (17, 13, 11)
DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    "onnxruntime": {"optimization": "all"},
    "openvino": {"precision": "f32", "threads": 1},
    "ncnn": {},
}
# The package whose version names the runtime in the profile's source line.
_RUNTIME_PACKAGES = {
    "onnxruntime": ("onnxruntime",),
    "openvino": ("openvino",),
    "ncnn": ("pnnx", "ncnn"),
}

Status = Literal["pass", "fail", "crash", "timeout", "error", "unconvertible"]


@dataclasses.dataclass(frozen=True)
class CaseOutcome:
    """What happened to one case at one opset through the backend."""

    case: str
    op: str
    domain: str
    opset: int
    original_opset: int
    status: Status
    stage: str = ""
    message: str = ""
    seconds: float = 0.0
    single_node: bool = True
    nodes: tuple[NodeUse, ...] = ()
    graph_inputs: tuple[str, ...] = ()  # element types of the graph inputs (not initializers)
    graph_outputs: tuple[str, ...] = ()
    variant: str = ""  # "batch1": the case with its inputs cut to one sample (probe_batch)
    leading_dim: int = 0  # first-axis length of the inputs as run (probe_batch.leading_dim)


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """All outcomes of one probe run, its headline counts and the profile it wrote."""

    backend: str
    runtime: str
    date: str
    source: str
    cases: int
    passed: int
    outcomes: tuple[CaseOutcome, ...]
    profile: str | None = None
    seconds: float = 0.0
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

    def at_own_opset(self) -> list[CaseOutcome]:
        """The outcomes of the cases as written (not converted, not cut to batch one)."""
        return as_written(self.outcomes)


ProgressCallback = Callable[[int, int, CaseOutcome], None]


def exporter_note(count: int) -> str:
    """The source's mention of nnport's exporter cases ('' when none ran)."""
    return f"; plus {count} exporter cases" if count else ""


def runtime_version(backend: str) -> str:
    """'openvino 2026.4.1' (from package metadata, without importing the runtime)."""
    parts = []
    for package in _RUNTIME_PACKAGES.get(backend, (backend,)):
        try:
            parts.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{package} (not installed)")
    return " + ".join(parts)


def _default_opset(model: onnx.ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return int(imp.version)
    return 0


@dataclasses.dataclass
class _Task:
    id: str
    case: str
    op: str
    domain: str
    opset: int
    original_opset: int
    model: Path
    data: Path
    rtol: float
    atol: float
    single_node: bool
    nodes: tuple[NodeUse, ...]
    same_as: str = ""  # a task whose nodes are identical (only the opset import differs)
    loose_dtype: bool = False  # compare values after casting to the expected dtype (zoo models)
    graph_inputs: tuple[str, ...] = ()
    graph_outputs: tuple[str, ...] = ()
    variant: str = ""
    leading_dim: int = 0

    def outcome(
        self, status: Status, stage: str = "", message: str = "", seconds: float = 0.0
    ) -> CaseOutcome:
        return CaseOutcome(
            self.case, self.op, self.domain, self.opset, self.original_opset, status, stage,
            message, seconds, self.single_node, self.nodes, self.graph_inputs, self.graph_outputs,
            self.variant, self.leading_dim,
        )  # fmt: skip


def _primary_op(model: onnx.ModelProto, name: str) -> tuple[str, str]:
    """The operator a case tests: its only node, or the case's named op for expanded graphs."""
    nodes = list(model.graph.node)
    if len(nodes) == 1:
        return nodes[0].op_type, nodes[0].domain
    lowered = name.removeprefix("test_").replace("_", "").lower()
    for node in nodes:
        if lowered.startswith(node.op_type.lower()):
            return node.op_type, node.domain
    return (nodes[0].op_type, nodes[0].domain) if nodes else ("", "")


def _normalize(value: Any) -> Any:
    """TensorProto and numpy scalars as arrays (as the ONNX backend runner feeds them)."""
    import numpy as np

    if isinstance(value, onnx.TensorProto):
        return onnx.numpy_helper.to_array(value)
    if isinstance(value, np.generic):
        return np.asarray(value)
    if isinstance(value, (list, tuple)):
        return [_normalize(v) for v in value]
    return value


def _cases_of_ops(ops: Sequence[str]) -> list[Any] | None:
    """Generate only the named operators' cases (onnx builds each op's cases in its own module
    under ``onnx.backend.test.case.node``); None when an op has no module of its own name."""
    import importlib

    for op in ops:
        try:
            importlib.import_module(f"onnx.backend.test.case.node.{op.lower()}")
        except ImportError:
            return None
    from onnx.backend.test.case.node import _NodeTestCases

    return list(_NodeTestCases)


def load_cases(
    ops: Sequence[str] | None = None,
    limit: int | None = None,
    names: Sequence[str] | None = None,
    per_op: int | None = None,
    exporters: bool = False,
) -> list[Any]:
    """The node-suite cases (onnx's ``TestCase`` objects), filtered by op names or case names.

    ``per_op`` keeps only the first N single-node cases of each operator (a quick survey);
    ``exporters`` adds nnport's exporter cases (``probe_exporter``), which named cases also
    find.
    """
    import warnings

    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the case generators warn on purpose (overflow, nan)
        found = _cases_of_ops(ops) if ops else None
        if names and all(n.startswith(PREFIX) for n in names):
            found = []  # exporter cases only: no need to build the suite
        elif found is None:
            found = load_model_tests(kind="node")
        cases: list[Any] = [c for c in found if c.model is not None]
    if exporters or any(n.startswith(PREFIX) for n in names or ()):
        cases += exporter_cases()
    if names:
        wanted = set(names)
        cases = [c for c in cases if c.name in wanted]
    if ops:
        wanted_ops = {o.lower() for o in ops}
        cases = [c for c in cases if _primary_op(c.model, c.name)[0].lower() in wanted_ops]
    if per_op is not None:
        counts: dict[str, int] = {}
        kept = []
        for case in cases:
            op = _primary_op(case.model, case.name)[0]
            if len(case.model.graph.node) == 1 and counts.get(op, 0) < per_op:
                counts[op] = counts.get(op, 0) + 1
                kept.append(case)
        cases = kept
    return cases[:limit] if limit is not None else cases


def freeze_integer_inputs(
    model: onnx.ModelProto, inputs: list[Any]
) -> tuple[onnx.ModelProto, list[Any]]:
    """Make integer and 0-/1-D float graph inputs after the first into initializers.

    These are shapes, axes, repeats, pads, scales, per-channel weights (BatchNormalization,
    PRelu), Clip bounds: what exported models carry as initializers.

    Converters such as pnnx need those as constants, as they are in exported models; the
    profile then lists the positions under ``constant_inputs``.
    """
    import numpy as np

    initializers = {t.name for t in model.graph.initializer}
    graph_inputs = [i for i in model.graph.input if i.name not in initializers]
    frozen = onnx.ModelProto()
    frozen.CopyFrom(model)
    keep_values, keep_inputs = [], []
    for position, (info, value) in enumerate(zip(graph_inputs, inputs, strict=False)):
        array = value if isinstance(value, np.ndarray) else None
        small_float = array is not None and array.dtype.kind == "f" and array.ndim <= 1
        if position > 0 and array is not None and (array.dtype.kind in "iu" or small_float):
            frozen.graph.initializer.append(onnx.numpy_helper.from_array(array, info.name))
        else:
            keep_values.append(value)
            keep_inputs.append(info)
    if len(keep_inputs) == len(graph_inputs):
        return model, inputs
    del frozen.graph.input[:]
    frozen.graph.input.extend(keep_inputs)
    return frozen, keep_values


def case_inputs(case: Any, freeze: bool = False) -> tuple[onnx.ModelProto, list[Any]]:
    """A node-suite case's model and its first data set's inputs as arrays; with ``freeze``
    (ncnn), the inputs ``freeze_integer_inputs`` makes initializers are in the model instead."""
    inputs = _normalize(list(case.data_sets[0][0]))
    return freeze_integer_inputs(case.model, inputs) if freeze else (case.model, inputs)


def as_written(outcomes: Iterable[CaseOutcome]) -> list[CaseOutcome]:
    """The outcomes of the cases as written (not converted, not cut to batch one)."""
    return [o for o in outcomes if o.opset == o.original_opset and not o.variant]


def _build_tasks(
    cases: Sequence[Any],
    opsets: Sequence[int],
    workdir: Path,
    dedupe: bool = True,
    freeze: bool = False,
    batch_one: bool = False,
) -> tuple[list[_Task], list[CaseOutcome]]:
    """Write each case (and each down-converted variant) to ``workdir``; unconvertible ones are outcomes.

    With ``dedupe``, a converted variant whose nodes (op versions, dtypes, modes) are identical
    to the case's own run, or to any run already planned, is not run again: it takes that
    run's outcome. Every case always runs at its own opset. With ``batch_one``, a case whose
    inputs have a first axis other than 1 also runs cut to one sample (``probe_batch``).
    """
    from onnx import version_converter

    tasks: list[_Task] = []
    skipped: list[CaseOutcome] = []
    seen: dict[tuple[NodeUse, ...], str] = {}
    for index, case in enumerate(cases):
        op, domain = _primary_op(case.model, case.name)
        own = _default_opset(case.model)
        model, inputs = case_inputs(case, freeze)
        expected = _normalize(list(case.data_sets[0][1]))
        data = workdir / f"{index:04d}.pkl"
        with data.open("wb") as fh:
            pickle.dump((inputs, expected), fh)
        single = len(model.graph.node) == 1
        variants: list[tuple[int, onnx.ModelProto | None, str]] = [(own, model, "")]
        only_default_domain = all(d in ("", "ai.onnx") for d in _domain_opsets(model))
        for target in sorted({t for t in opsets if t < own}, reverse=True):
            if not only_default_domain:
                continue
            try:
                converted = version_converter.convert_version(model, target)
                onnx.checker.check_model(converted)
                variants.append((target, converted, ""))
            except Exception as exc:
                variants.append((target, None, " ".join(str(exc).split())[:300]))
        first: _Task | None = None
        for opset, variant, why in variants:
            task_id = f"{case.name}@{opset}"
            if variant is None:
                task = _Task(
                    task_id, case.name, op, domain, opset, own, Path(), data, 0, 0, single, ()
                )
                skipped.append(task.outcome("unconvertible", "version-converter", why))
                continue
            path = workdir / f"{index:04d}-{opset}.onnx"
            uses = node_uses(variant)
            same = ""
            if dedupe and first is not None:  # converted variant: run only unseen node signatures
                same = first.id if first.nodes == uses else seen.get(uses, "")
            if not same:
                onnx.save(variant, str(path))
            task = _Task(task_id, case.name, op, domain, opset, own, path, data,
                         float(case.rtol), float(case.atol), single, uses, same,
                         False, *graph_io(variant), "", leading_dim(inputs))  # fmt: skip
            first = first or task
            tasks.append(task)
            if not same:
                seen.setdefault(uses, task.id)
        if batch_one and first is not None:
            tasks += _batch_one_task(first, model, inputs, float(case.rtol), float(case.atol))
    return tasks, skipped


def _batch_one_task(
    task: _Task, model: onnx.ModelProto, inputs: list[Any], rtol: float, atol: float
) -> list[_Task]:
    """The case's batch-one variant (``probe_batch``) as a task, when it has one."""
    found = batch_one_variant(model, inputs)
    if found is None:
        return []
    variant, cut, expected = found
    path, data = task.model.with_suffix(".b1.onnx"), task.data.with_suffix(".b1.pkl")
    onnx.save(variant, str(path))
    with data.open("wb") as fh:
        pickle.dump((cut, _normalize(expected)), fh)
    return [
        dataclasses.replace(
            task, id=f"{task.id}#{BATCH_ONE}", model=path, data=data, rtol=max(rtol, 1e-3),
            atol=max(atol, 1e-5), same_as="", variant=BATCH_ONE, leading_dim=leading_dim(cut),
        )
    ]  # fmt: skip


def _inherit(task: _Task, outcome: CaseOutcome) -> CaseOutcome:
    """The outcome of an identical run at another opset, relabelled for ``task``."""
    note = f"same nodes as {outcome.case} at opset {outcome.opset}, not rerun"
    return task.outcome(
        outcome.status, outcome.stage, "; ".join(filter(None, [note, outcome.message]))
    )


def probe_backend(
    backend: str,
    out: Path | None = None,
    *,
    limit: int | None = None,
    ops: Sequence[str] | None = None,
    cases: Sequence[str] | None = None,
    opsets: Sequence[int] = DEFAULT_OPSETS,
    workers: int = 1,
    timeout: float = 60.0,
    options: dict[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    raw_json: Path | None = None,
    dedupe: bool = True,
    journal: Path | None = None,
    per_op: int | None = None,
    exporters: bool = True,
) -> ProbeResult:
    """Probe ``backend`` with the node suite; write the derived profile to ``out`` (if given).

    ``ops`` restricts the suite to cases whose tested operator is in the list, ``cases`` to
    named cases, ``limit`` to the first N; ``opsets`` are the older opsets each case is also
    converted to. ``exporters`` adds nnport's exporter cases (``probe_exporter``: nodes as
    torch exports them, which the suite lacks) unless ``cases`` names the cases. ``raw_json`` keeps every outcome (the profile is derived from them).
    ``journal`` (a JSON-lines file) records each run as it finishes; a probe restarted with the
    same journal runs only what is missing.
    """
    if backend not in PROBE_BACKENDS:
        raise UsageError(
            f"cannot probe backend {backend!r}", hint=f"choose from {', '.join(PROBE_BACKENDS)}"
        )
    start = time.perf_counter()
    opts = {**DEFAULT_OPTIONS[backend], **(options or {})}
    suite = load_cases(ops, limit, cases, per_op, exporters=exporters and not cases)
    if not suite:
        raise UsageError("no node-suite case matches the selection", hint="check --op / --limit")
    runtime = runtime_version(backend)
    date = dt.date.today().isoformat()
    with tempfile.TemporaryDirectory(prefix="nnport-probe-") as tmp:
        ncnn = backend == "ncnn"
        tasks, skipped = _build_tasks(suite, opsets, Path(tmp), dedupe, ncnn, batch_one=ncnn)
        from nnport.targets.probe_pool import _journaling, _read_journal, run_tasks

        done = _read_journal(journal)
        to_run = [t for t in tasks if not t.same_as and t.id not in done]
        to_run.sort(key=lambda t: t.opset != t.original_opset)  # own opsets first
        logger.info("probing %s with %d runs of %d cases (%d from the journal)",
                    backend, len(to_run), len(suite), len(done))  # fmt: skip
        ran = run_tasks(to_run, backend, opts, workers=workers, timeout=timeout,
                        progress=_journaling(progress, journal))  # fmt: skip
        by_id = {**done, **{t.id: o for t, o in zip(to_run, ran, strict=True)}}
        outcomes = [by_id[t.id] if not t.same_as else _inherit(t, by_id[t.same_as]) for t in tasks]
    everything = tuple(sorted([*outcomes, *skipped], key=lambda o: (o.case, -o.opset)))
    own = as_written(everything)
    source = f"nnport targets probe, {runtime}, {date}"
    extra = sum(c.name.startswith(PREFIX) for c in suite)
    if ops or cases or limit is not None or per_op is not None:
        source += f" (subset: {len(suite) - extra} node-suite cases"
        source += f", at most {per_op} per op)" if per_op is not None else ")"
    source += exporter_note(extra)
    result = ProbeResult(
        backend, runtime, date, source, len(suite), sum(o.status == "pass" for o in own),
        everything, None, round(time.perf_counter() - start, 1), opts,
    )  # fmt: skip
    if raw_json is not None:
        from nnport.results import dumps

        raw_json.parent.mkdir(parents=True, exist_ok=True)
        raw_json.write_text(dumps(result, indent=None) + "\n")
    if out is not None:
        from nnport.targets.probe_profile import write_profile

        write_profile(result, out)
        result = dataclasses.replace(result, profile=str(out))
    return result
