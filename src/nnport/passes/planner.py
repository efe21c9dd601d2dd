"""The fix planner: check, pick the passes the violations name, apply each verified, re-check, repeat."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx_ir as ir

from nnport.errors import InputSpecError
from nnport.model.specs import graph_inputs
from nnport.passes.base import Decline, FixPass, default_opset
from nnport.passes.catalog import CATALOG, fallback_fix, pass_class
from nnport.passes.fold_qdq import FoldReport, fold_qdq
from nnport.passes.freeze_shapes import frozen_shape
from nnport.passes.gears import reopen_gears
from nnport.passes.keep_fp32 import PrecisionReport, precision_verdict
from nnport.passes.split_fix import split_and_fix
from nnport.passes.split_postprocess import DATA_DEPENDENT_OPS, SplitReport
from nnport.passes.verify import WeightCache, drift, run_model, same_computation
from nnport.verify.inputs import generate_inputs

logger = logging.getLogger(__name__)

# Fixes whose new violations were already there, hidden behind unknown shapes or values.
_REVEALING = {"freeze-shapes", "fold-constants"}
# Fixes that act on the whole model rather than the nodes check named.
_MODEL_LEVEL = {"freeze-shapes", "fold-constants", "convert-opset", "retype-int64", "cast-graph-io"}


@dataclass(frozen=True)
class FixOptions:
    """Verification tolerances and search limits for ``fix`` (integer outputs are always exact)."""

    rtol: float = 1e-4
    atol: float = 1e-5
    max_rounds: int = 6
    seed: int = 0
    samples: int = 1
    # ATC gears: keep the batch dim dynamic when the fixed model matches at each of these sizes.
    batch_gears: tuple[int, ...] = ()
    # ATC image gears: (H, W) sizes; H and W stay dynamic when the model matches at each one.
    image_gears: tuple[tuple[int, int], ...] = ()
    # When NMS-like ops (data-dependent shapes) block the target, cut them off to a host model.
    split_postprocess: bool = True
    # The number format to verify the fixed model in (None: the target's default; "" skips):
    # a model that breaks in it gets its fp32 keep-set (passes/keep_fp32.py) when repair is on.
    precision: str | None = None
    repair_precision: bool = True
    # Fold a QDQ model's QuantizeLinear/DequantizeLinear back to float first (not automatic:
    # it changes the numbers; the difference to the quantized model is measured).
    fold_qdq: bool = False


@dataclass(frozen=True)
class PassRecord:
    """One pass the planner tried: what it rewrote, the error it introduced, kept or rolled back."""

    fix: str
    name: str
    round: int
    nodes_rewritten: int
    max_error: float
    kept: bool
    reason: str
    engine: str
    seconds: float
    declined: tuple[str, ...] = ()
    part: str = ""  # "device" for passes run on the device part of a split model


@dataclass(frozen=True)
class Remaining:
    """A violation still there after fixing, with the reason nnport could not resolve it."""

    node: str
    op: str
    rule: str
    message: str
    fix: str | None
    reason: str


@dataclass(frozen=True)
class FixResult:
    """The outcome of ``fix``; ``model`` holds the fixed model (None after a JSON round trip)."""

    target: str
    deployable: bool
    verified: bool
    violations_before: int
    violations_after: int
    rounds: int
    passes: tuple[PassRecord, ...]
    remaining: tuple[Remaining, ...]
    max_error: float
    input_shapes: dict[str, tuple[int, ...]]
    opset_before: int
    opset_after: int
    nodes_before: int
    nodes_after: int
    seconds: float
    verification: str = ""
    atc_command: str = ""
    batch_gears: tuple[int, ...] = ()
    gears_note: str = ""
    output: str = ""
    image_gears: tuple[tuple[int, int], ...] = ()
    # Set when post-processing was cut off: ``model`` is then the device part, ``host_model``
    # the post-processing that runs on the host, ``device_source`` the device part before fixing.
    split: SplitReport | None = None
    model: Any = field(default=None, repr=False, compare=False)
    host_model: Any = field(default=None, repr=False, compare=False)
    device_source: Any = field(default=None, repr=False, compare=False)
    pre_model: Any = field(default=None, repr=False, compare=False)  # host pre-processing
    # The verdict in the device's number format and the fp32 keep-set that repairs it.
    precision: PrecisionReport | None = None
    # With fold_qdq: what folding did, its measured difference and the scales it carried.
    qdq_fold: FoldReport | None = None

    def without_model(self) -> FixResult:
        """A copy without the in-memory models (for JSON)."""
        return dataclasses.replace(
            self, model=None, host_model=None, device_source=None, pre_model=None
        )


def _profile(target: Any) -> Any:
    from nnport.targets import load_target

    return load_target(target) if isinstance(target, str) else target


def _check(model: ir.Model, profile: Any, shapes: Mapping[str, tuple[int, ...]] | None) -> Any:
    try:
        from nnport.check import check
    except ImportError:  # older trees export it from the checker module only
        from nnport.check.walker import check

    return check(model, profile, input_shapes=dict(shapes) if shapes else None)


def _has_op(profile: Any) -> Any:
    def has(op: str) -> bool:
        return bool(profile.rules_for(op, "")) or profile.unlisted_ops == "supported"

    return has


def _make_pass(
    fix_id: str,
    profile: Any,
    model: ir.Model,
    shapes: Mapping[str, tuple[int, ...]],
    nodes: Sequence[str],
) -> FixPass:
    """Instantiate the pass for ``fix_id`` with what the target and the user told us."""
    cls = pass_class(fix_id)
    if cls is None:
        raise Decline(f"nnport has no pass named {fix_id!r}")
    graph_rules = profile.graph
    if fix_id == "freeze-shapes":
        return cls(shapes)  # type: ignore[call-arg]
    if fix_id == "convert-opset":
        current = default_opset(model)
        allowed = profile.opsets.get("ai.onnx") or profile.opsets.get("")
        if allowed is None:
            raise Decline("the target names no opset range")
        version = allowed.hi if allowed.hi is not None and current > allowed.hi else allowed.lo
        return cls(max(allowed.lo, min(current, version)) if current in allowed else version)  # type: ignore[call-arg]
    if fix_id == "retype-int64":
        return cls(spec_int64=graph_rules.int64 != "none")  # type: ignore[call-arg]
    if fix_id == "cast-graph-io":
        return cls(  # type: ignore[call-arg]
            tuple(graph_rules.input_dtypes), allowed_outputs=tuple(graph_rules.output_dtypes)
        )
    if fix_id in _MODEL_LEVEL:
        return cls()
    return cls(nodes=[n for n in nodes if n] or None, has_op=_has_op(profile))


def _feeds(
    model: ir.Model,
    shapes: dict[str, tuple[int, ...]],
    inputs: Sequence[Mapping[str, np.ndarray]] | None,
    options: FixOptions,
) -> list[dict[str, np.ndarray]]:
    """The user's feeds, or seeded range-aware ones at the frozen (given, else batch 1) shapes."""
    if inputs:
        return [dict(f) for f in inputs]
    concrete: dict[str, tuple[int, ...]] = {}
    for value in graph_inputs(model):
        try:
            concrete[value.name or ""] = frozen_shape(value, shapes.get(value.name or ""))
        except Decline as exc:
            raise InputSpecError(str(exc)) from exc
    return generate_inputs(model, concrete, samples=options.samples, seed=options.seed)


def _first_image_gear(
    model: ir.Model, given: dict[str, tuple[int, ...]], gear: tuple[int, int]
) -> dict[str, tuple[int, ...]]:
    """``given`` plus, for 4-D inputs without a given shape, the first image gear as H and W."""
    out = dict(given)
    for value in graph_inputs(model):
        dims = list(value.shape) if value.shape is not None else []
        if (value.name or "") in out or len(dims) != 4 or not isinstance(dims[1], int):
            continue
        batch = dims[0] if isinstance(dims[0], int) else 1
        out[value.name or ""] = (batch, dims[1], *gear)
    return out


def _has_dynamic_inputs(model: ir.Model) -> bool:
    return any(
        v.shape is None or not all(isinstance(d, int) for d in v.shape) for v in graph_inputs(model)
    )


def _unfixable(violations: Sequence[Any]) -> set[Any]:
    """Violations no pass addresses, keyed so the same problem compares equal across rewrites."""
    return {
        (v.rule, v.op, v.message)
        for v in violations
        if not v.fix and not fallback_fix(v.rule, v.op)
    }


def _plan(violations: Sequence[Any], exhausted: set[str]) -> list[tuple[str, list[str]]]:
    """Fix ids named by the violations, in catalog order, with the nodes each one names."""
    wanted: dict[str, list[str]] = {}
    for v in violations:
        fix_id = v.fix or fallback_fix(v.rule, v.op)
        if fix_id and fix_id not in exhausted:
            wanted.setdefault(fix_id, []).append(v.node)
    if any(f not in _MODEL_LEVEL for f in wanted) and "fold-constants" not in exhausted:
        wanted.setdefault("fold-constants", [])
    order = [cls.fix_id for cls in CATALOG]
    known = [(f, wanted[f]) for f in order if f in wanted]
    unknown = [(f, n) for f, n in wanted.items() if f not in order]
    return known + unknown


def planned_fixes(violations: Sequence[Any]) -> list[str]:
    """The fix ids ``fix`` applies first for these violations, in the order it applies them
    (check lists them in this order; later rounds re-plan from what is left)."""
    return [fix_id for fix_id, _ in _plan(violations, set())]


def fix(
    model: ir.Model,
    target: Any,
    *,
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
    inputs: Sequence[Mapping[str, np.ndarray]] | None = None,
    options: FixOptions | None = None,
) -> FixResult:
    """Rewrite a copy of ``model`` until ``target`` accepts it, verifying every pass.

    ``model`` is never modified. Each pass runs on a clone; its outputs on the same feeds are
    compared with the model's before it, and a pass that drifts beyond tolerance is rolled back.
    """
    options = options or FixOptions()
    start = time.perf_counter()
    profile = _profile(target)
    # Shapes the user gave (directly or through --inputs) steer check and freeze-shapes; the
    # shapes of generated feeds only drive verification, so check still sees what is dynamic.
    given = dict(input_shapes or {})
    if inputs:
        for name, array in inputs[0].items():
            given.setdefault(name, tuple(np.asarray(array).shape))
    if options.image_gears:  # dynamic H and W are frozen at the first gear, then re-opened
        given = _first_image_gear(model, given, options.image_gears[0])
    feeds = _feeds(model, given, inputs, options)
    folded: FoldReport | None = None
    if options.fold_qdq:  # the folded float model is the one fixed and verified from here on
        model, folded = fold_qdq(model, feeds)
    shapes = {name: tuple(np.asarray(a).shape) for name, a in feeds[0].items()} | given
    cache = WeightCache()
    engine, reference = run_model(model, feeds, cache=cache)
    # Passes work on clones (or return new models), so ``model`` itself is never changed; a
    # copy is made at the end only when no pass replaced it.
    current, outputs = model, reference
    report = _check(current, profile, given)
    before = len(report.violations)
    records: list[PassRecord] = []
    exhausted: set[str] = set()
    rounds = 0
    for rounds in range(1, options.max_rounds + 1):
        # Given shapes are frozen into the model even when check needs nothing else.
        unfrozen = rounds == 1 and bool(given) and _has_dynamic_inputs(current)
        if report.deployable and not unfrozen:
            rounds -= 1
            break
        progress = False
        plan = _plan(report.violations, exhausted)
        if rounds == 1 and given and _has_dynamic_inputs(current):
            plan = [("freeze-shapes", []), *[p for p in plan if p[0] != "freeze-shapes"]]
        for fix_id, nodes in plan:
            record, new_model, new_outputs = _try_pass(
                fix_id,
                profile,
                current,
                given,
                nodes,
                feeds,
                outputs,
                options,
                rounds,
                engine,
                cache,
            )
            if new_model is not None:
                new_report = _check(new_model, profile, given)
                added = _unfixable(new_report.violations) - _unfixable(report.violations)
                # Op rewrites must not trade a fixable violation for unfixable ones; freezing
                # and folding only reveal (with real shapes) what was already there.
                if added and record is not None and fix_id not in _REVEALING:
                    ops = ", ".join(sorted({f"{op or 'model'} ({rule})" for rule, op, _ in added}))
                    reason = f"rolled back: it would leave violations nnport cannot fix: {ops}"
                    record = dataclasses.replace(record, kept=False, reason=reason)
                    new_model = None
            if record is not None:
                records.append(record)
            if new_model is None:
                exhausted.add(fix_id)
                continue
            current, outputs, report, progress = new_model, new_outputs, new_report, True
        if not progress:
            break
    final = drift(reference, outputs, rtol=options.rtol, atol=options.atol, engine=engine)
    remaining = tuple(_explain(v, records) for v in report.violations)
    gears: tuple[int, ...] = ()
    images: tuple[tuple[int, int], ...] = ()
    gears_note = ""
    if (options.batch_gears or options.image_gears) and report.deployable and final.ok:
        reopened, gears_note = reopen_gears(
            model, current, shapes, batch=options.batch_gears, images=options.image_gears,
            profile=profile, rtol=options.rtol, atol=options.atol, seed=options.seed,
        )  # fmt: skip
        if reopened is not None:
            current, gears, images = reopened, options.batch_gears, options.image_gears
    if current is model:
        current = model.clone()
    result = FixResult(
        target=profile.name,
        deployable=bool(report.deployable),
        verified=final.ok,
        violations_before=before,
        violations_after=len(report.violations),
        rounds=rounds,
        passes=tuple(records),
        remaining=remaining,
        max_error=final.max_abs,
        input_shapes={k: tuple(int(d) for d in v) for k, v in shapes.items()},
        opset_before=default_opset(model),
        opset_after=default_opset(current),
        nodes_before=sum(1 for _ in model.graph),
        nodes_after=sum(1 for _ in current.graph),
        seconds=time.perf_counter() - start,
        verification=f"{len(feeds)} feed(s) on {engine}; "
        + ("outputs match" if final.ok else final.reason),
        batch_gears=gears,
        image_gears=images,
        gears_note=gears_note,
        model=current,
        qdq_fold=folded,
    )
    if options.split_postprocess and not report.deployable:
        split = split_and_fix(result, current, report, profile, feeds, reference, options, fix)
        if split is not None:  # the device part's fix verified its precision
            return dataclasses.replace(split, seconds=time.perf_counter() - start)
    if options.precision != "" and final.ok:
        verdict = precision_verdict(current, profile, feeds, options.precision,
                                    repair=options.repair_precision)  # fmt: skip
        result = dataclasses.replace(result, precision=verdict, seconds=time.perf_counter() - start)
    return result


def _try_pass(
    fix_id: str,
    profile: Any,
    current: ir.Model,
    shapes: Mapping[str, tuple[int, ...]],
    nodes: Sequence[str],
    feeds: Sequence[Mapping[str, np.ndarray]],
    outputs: Sequence[Mapping[str, np.ndarray]],
    options: FixOptions,
    round_: int,
    engine_before: str,
    cache: WeightCache,
) -> tuple[PassRecord | None, ir.Model | None, list[dict[str, np.ndarray]]]:
    """Run one pass on a clone and verify it; returns (record, kept model or None, outputs)."""
    start = time.perf_counter()
    name = getattr(pass_class(fix_id), "__name__", fix_id)

    def record(rewritten: int, err: float, kept: bool, reason: str, engine: str = "",
               declined: Sequence[str] = ()) -> PassRecord:  # fmt: skip
        return PassRecord(
            fix_id, name, round_, rewritten, err, kept, reason, engine,
            time.perf_counter() - start, tuple(declined),
        )  # fmt: skip

    try:
        instance = _make_pass(fix_id, profile, current, shapes, nodes)
        # A pass that returns a new model leaves its input alone: no clone needed for it.
        result = instance(current.clone() if instance.changes_input else current)
    except Decline as exc:
        return record(0, 0.0, False, f"declined: {exc}"), None, []
    except Exception as exc:  # a pass bug must not abort the run (DESIGN.md pitfall)
        logger.debug("pass %s failed", fix_id, exc_info=True)
        text = " ".join(str(exc).split())[:300]
        return record(0, 0.0, False, f"failed: {type(exc).__name__}: {text}"), None, []
    declined = tuple(instance.declined)
    if not result.modified:
        if not declined:
            return None, None, []
        return record(0, 0.0, False, "declined every node", declined=declined), None, []
    if same_computation(current, result.model):  # e.g. only the opset number moved
        reason = "verified: same nodes, weights and op versions (identical by construction)"
        return (
            record(instance.rewritten, 0.0, True, reason, engine_before, declined),
            (result.model),
            [dict(o) for o in outputs],
        )
    try:
        engine, new_outputs = run_model(result.model, feeds, cache=cache)
    except Exception as exc:
        text = " ".join(str(exc).split())[:300]
        reason = f"rolled back: the rewritten model does not run: {text}"
        return record(instance.rewritten, float("inf"), False, reason, "", declined), None, []
    if engine != engine_before:
        reason = "rolled back: ONNX Runtime ran the model before this pass but cannot load it after"
        return record(instance.rewritten, float("inf"), False, reason, engine, declined), None, []
    check = drift(outputs, new_outputs, rtol=options.rtol, atol=options.atol, engine=engine)
    if not check.ok:
        reason = f"rolled back: {check.reason}"
        return record(instance.rewritten, check.max_abs, False, reason, engine, declined), None, []
    kept = record(instance.rewritten, check.max_abs, True, "verified", engine, declined)
    return kept, result.model, new_outputs


def _explain(violation: Any, records: Sequence[PassRecord]) -> Remaining:
    """Why a violation is still there: the pass's decline reason, or that nnport has no fix."""
    fix_id = violation.fix or fallback_fix(violation.rule, violation.op)
    reason = "no pass resolves this rule" if not fix_id else ""
    if not fix_id and violation.op in DATA_DEPENDENT_OPS:
        reason = "its output shape depends on input values: only splitting the post-processing "
        reason += "off to the host resolves it (split_postprocess)"
    if fix_id:
        tried = [r for r in records if r.fix == fix_id]
        node_reasons = [
            d for r in tried for d in r.declined if violation.node and violation.node in d
        ]
        if node_reasons:
            reason = node_reasons[-1]
        elif tried and not tried[-1].kept:
            reason = tried[-1].reason
        elif tried:
            reason = f"{fix_id} ran but the violation remains"
        elif pass_class(fix_id) is None:
            reason = f"nnport has no pass {fix_id!r}"
        else:
            reason = f"{fix_id} made no change"
    return Remaining(
        violation.node, violation.op, violation.rule, violation.message, violation.fix, reason
    )
