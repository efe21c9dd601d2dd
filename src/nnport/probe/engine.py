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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import onnx

from nnport.errors import UsageError
from nnport.probe.batch import BATCH_ONE, batch_one_variant, leading_dim
from nnport.probe.cases import case_inputs, load_cases, normalize_values, primary_op
from nnport.probe.exporter import PREFIX
from nnport.probe.nodes import NodeUse, _domain_opsets, graph_io, node_uses
from nnport.probe.outcomes import (
    CaseOutcome,
    ProbeResult,
    ProgressCallback,
    Task,
    as_written,
)

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


def _build_tasks(
    cases: Sequence[Any],
    opsets: Sequence[int],
    workdir: Path,
    dedupe: bool = True,
    freeze: bool = False,
    batch_one: bool = False,
) -> tuple[list[Task], list[CaseOutcome]]:
    """Write each case (and each down-converted variant) to ``workdir``; unconvertible ones are outcomes.

    With ``dedupe``, a converted variant whose nodes (op versions, dtypes, modes) are identical
    to the case's own run, or to any run already planned, is not run again: it takes that
    run's outcome. Every case always runs at its own opset. With ``batch_one``, a case whose
    inputs have a first axis other than 1 also runs cut to one sample (``probe_batch``).
    """
    from onnx import version_converter

    tasks: list[Task] = []
    skipped: list[CaseOutcome] = []
    seen: dict[tuple[NodeUse, ...], str] = {}
    for index, case in enumerate(cases):
        op, domain = primary_op(case.model, case.name)
        own = _default_opset(case.model)
        model, inputs = case_inputs(case, freeze)
        expected = normalize_values(list(case.data_sets[0][1]))
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
        first: Task | None = None
        for opset, variant, why in variants:
            task_id = f"{case.name}@{opset}"
            if variant is None:
                task = Task(
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
            task = Task(task_id, case.name, op, domain, opset, own, path, data,
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
    task: Task, model: onnx.ModelProto, inputs: list[Any], rtol: float, atol: float
) -> list[Task]:
    """The case's batch-one variant (``probe_batch``) as a task, when it has one."""
    found = batch_one_variant(model, inputs)
    if found is None:
        return []
    variant, cut, expected = found
    path, data = task.model.with_suffix(".b1.onnx"), task.data.with_suffix(".b1.pkl")
    onnx.save(variant, str(path))
    with data.open("wb") as fh:
        pickle.dump((cut, normalize_values(expected)), fh)
    return [
        dataclasses.replace(
            task, id=f"{task.id}#{BATCH_ONE}", model=path, data=data, rtol=max(rtol, 1e-3),
            atol=max(atol, 1e-5), same_as="", variant=BATCH_ONE, leading_dim=leading_dim(cut),
        )
    ]  # fmt: skip


def _inherit(task: Task, outcome: CaseOutcome) -> CaseOutcome:
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
        from nnport.probe.pool import _journaling, _read_journal, run_tasks

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
        from nnport.probe.derive import write_profile

        write_profile(result, out)
        result = dataclasses.replace(result, profile=str(out))
    return result
