"""Compare a candidate (another backend, or a modified model) with a reference, output by output."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx_ir as ir

from nnport.backends import make_runner
from nnport.backends.base import ModelSource, Runner
from nnport.errors import BackendError, UsageError
from nnport.model.io import SOURCE_PATH_KEY, load
from nnport.precision.native import PrecisionPlan, plan_precision
from nnport.verify.bisect import BisectResult, bisect_models
from nnport.verify.detections import (
    DetectionComparison,
    DetectionOptions,
    accumulator_for,
    verdict,
)
from nnport.verify.fitted import FittedRunner
from nnport.verify.inputs import generate_inputs, load_npz
from nnport.verify.metrics import MetricsAccumulator, TensorMetrics, Tolerance
from nnport.verify.precision import Calibration, calibration_feeds, emulated_model
from nnport.verify.ranges import RangeScan, scan_ranges

logger = logging.getLogger(__name__)

Feed = dict[str, np.ndarray]


@dataclass(frozen=True)
class CompareOptions:
    """What to compare and how strictly. Tolerances are explicit: pass/fail uses
    ``|candidate - reference| <= atol + rtol * |reference|`` for every element.

    ``backend_options`` / ``reference_options`` go to the runners (e.g. OpenVINO
    ``precision``, ONNX Runtime ``optimization``, torch ``module`` and ``weights``).
    ``inputs`` is an .npz file; without it ``samples`` inputs are generated from ``seed``.
    ``bisect_budget_bytes`` bounds the extra tensors fetched per bisect run (default: 15% of
    the weights, at least 8 MiB).

    ``precision`` (fp32, fp16, bf16, int8) runs the candidate in that number format, natively
    where its backend computes in it, else emulated on ONNX Runtime (``docs/precision.md``);
    int8 calibrates on ``calibration``. ``min_sqnr_db`` replaces the element-wise verdict by
    an SQNR floor; ``range_scan`` measures every fp32 tensor against the format's limits.
    """

    rtol: float = 1e-3
    atol: float = 1e-4
    samples: int = 1
    seed: int = 0
    inputs: str | None = None
    input_shapes: Mapping[str, tuple[int, ...]] | None = None
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    reference_options: Mapping[str, Any] = field(default_factory=dict)
    bisect: bool = False
    # Bisect only when an output fails (``port``): a passing compare costs one run per sample.
    bisect_on_failure: bool = False
    bisect_budget_bytes: int | None = None
    detection: DetectionOptions = field(default_factory=DetectionOptions)  # box matching
    precision: str | None = None
    calibration: Calibration | None = None
    min_sqnr_db: float | None = None
    range_scan: bool = True

    @property
    def tolerance(self) -> Tolerance:
        """The tolerance as a value (element-wise, or an SQNR floor: see ``Tolerance``)."""
        return Tolerance(self.rtol, self.atol, self.min_sqnr_db)


@dataclass(frozen=True)
class RunnerInfo:
    """One side of a comparison: backend, model and the runtime's effective configuration."""

    backend: str
    model: str
    config: dict[str, str]


@dataclass(frozen=True)
class CompareResult:
    """Per-output metrics of candidate against reference, the verdict and, optionally, bisect."""

    model: str
    candidate: RunnerInfo
    reference: RunnerInfo
    inputs: str
    samples: int
    rtol: float
    atol: float
    outputs: tuple[TensorMetrics, ...]
    passed: bool
    notes: tuple[str, ...] = ()
    bisect: BisectResult | None = None
    detections: DetectionComparison | None = None  # boxes matched, when outputs are detections
    precision: str = "fp32"
    precision_mode: str = "native"
    ranges: RangeScan | None = None
    min_sqnr_db: float | None = None

    @property
    def precision_label(self) -> str:
        """``precision=fp16 (emulated)``."""
        return f"precision={self.precision} ({self.precision_mode})"


def _model_label(model: ModelSource | Any) -> str:
    if isinstance(model, ir.Model):
        return str(model.meta.get(SOURCE_PATH_KEY, "(in memory)"))
    return str(model)


def open_runner(
    backend: str,
    source: ModelSource,
    options: Mapping[str, Any],
    onnx_model: ir.Model | None = None,
) -> Runner:
    """A runner for ``backend``; the torch backend takes its module from ``options``."""
    opts = dict(options)
    if backend == "torch":
        module = opts.pop("module", None)
        if module is None:
            raise UsageError(
                "the torch backend needs a module",
                hint="pass module=package.module:factory (and weights=FILE) as backend options",
            )
        if onnx_model is not None:
            opts.setdefault("input_names", [v.name for v in _real_inputs(onnx_model)])
            opts.setdefault("output_names", [v.name for v in onnx_model.graph.outputs])
        return make_runner("torch", module, **opts)
    # Each model gets its feeds in the dtypes it declares (a fixed model may take a retyped
    # input: token ids as float32), so both sides of a comparison see the same values.
    return FittedRunner(make_runner(backend, source, **opts))


def _real_inputs(model: ir.Model) -> list[ir.Value]:
    return [v for v in model.graph.inputs if v.name not in model.graph.initializers]


def prepare_feeds(model: ir.Model, options: CompareOptions) -> tuple[list[Feed], str]:
    """The feeds to compare on and a description of where they came from."""
    if options.inputs:
        feeds = load_npz(options.inputs, model)
        return feeds, f"{options.inputs} ({len(feeds)} sample(s))"
    if options.samples < 1:
        raise UsageError("--samples must be at least 1")
    feeds = generate_inputs(model, options.input_shapes, samples=options.samples, seed=options.seed)
    return feeds, f"generated, {options.samples} sample(s), seed {options.seed}"


def _match_outputs(
    reference: Mapping[str, np.ndarray], candidate: Mapping[str, np.ndarray]
) -> list[tuple[str, str]]:
    """Pairs (reference name, candidate name): by name, else by position when counts agree."""
    if set(reference) <= set(candidate):
        return [(n, n) for n in reference]
    if len(reference) == len(candidate):
        return list(zip(reference, candidate, strict=True))
    missing = sorted(set(reference) - set(candidate))
    raise BackendError(
        f"the candidate does not produce output(s) {', '.join(missing)}",
        hint=f"it produces {', '.join(candidate)}",
    )


def _notes(candidate: Runner, passed: bool) -> list[str]:
    notes = []
    config = candidate.config()
    precision = config.get("precision")
    requested = config.get("requested_precision")
    if requested and precision and requested != precision:
        notes.append(
            f"{candidate.name} was asked for precision {requested} but runs with {precision} "
            "(not supported by this device)"
        )
    if not passed and precision and precision != "f32":
        notes.append(
            f"{candidate.name} ran with inference precision {precision}; reduced precision "
            "explains drift of this size: rerun with precision=f32 to confirm"
        )
    return notes


def compare(
    model: ir.Model,
    *,
    against: ModelSource | None = None,
    backend: str = "onnxruntime",
    reference: str = "onnxruntime",
    options: CompareOptions | None = None,
    feeds: list[Feed] | None = None,
    progress: Callable[[str], None] | None = None,
) -> CompareResult:
    """Run ``model`` on ``reference`` and ``against`` (default: ``model``) on ``backend``.

    Every output is compared on every sample; with ``options.bisect`` (always) or
    ``options.bisect_on_failure`` (after a mismatch) the first divergent node is searched for,
    reporting each chunk of tensors compared to ``progress``.
    """
    options = options or CompareOptions()
    candidate_model: ModelSource = model if against is None else against
    if isinstance(candidate_model, (str, Path)) and Path(candidate_model).suffix == ".onnx":
        candidate_model = load(candidate_model)
    if feeds is None:
        feeds, inputs_text = prepare_feeds(model, options)
    else:
        inputs_text = f"given, {len(feeds)} sample(s)"
    plan = plan_precision(backend, options.precision) if options.precision else None
    precision_notes: list[str] = []
    if plan is not None:
        candidate_model, backend, options = _in_precision(
            plan, candidate_model, options, precision_notes
        )
    acc = MetricsAccumulator(options.tolerance)
    det_acc = None
    order: list[tuple[str, str]] = []
    cand_onnx = candidate_model if isinstance(candidate_model, ir.Model) else model
    with (
        open_runner(reference, model, options.reference_options, model) as ref_runner,
        open_runner(backend, candidate_model, options.backend_options, cand_onnx) as cand_runner,
    ):
        for index, feed in enumerate(feeds):
            expected = ref_runner.infer(feed)
            got = cand_runner.infer(feed)
            pairs = _match_outputs(expected, got)
            if index == 0:
                order = pairs
                det_acc = accumulator_for(model.metadata_props, expected, options.detection)
            if det_acc is not None:
                det_acc.add(expected, {r: got[c] for r, c in pairs})
            for ref_name, cand_name in pairs:
                acc.add(ref_name, expected[ref_name], got[cand_name])
            logger.info("sample %d compared", index)
        ref_info = RunnerInfo(reference, _model_label(model), ref_runner.config())
        cand_info = RunnerInfo(backend, _model_label(candidate_model), cand_runner.config())
        outputs = tuple(acc.result(name) for name, _ in order)
        passed = all(o.passed for o in outputs)
        detections = det_acc.result() if det_acc is not None else None
        if detections is not None:
            passed = verdict(outputs, detections)
        notes = precision_notes + _notes(cand_runner, passed)
    ranges = None
    if plan is not None and plan.precision in ("fp16", "bf16") and options.range_scan:
        ranges = _scan(model, feeds, reference, plan, options, notes)
        if ranges is not None and not passed and not ranges.over and ranges.underflow_tensors:
            notes.append(
                f"no tensor exceeds {plan.precision}'s range, but {ranges.underflow_tensors} "
                f"hold values that underflow to zero in it: activations this small (the "
                f"outputs' largest |x| is {max(o.reference_max_abs for o in outputs):.3g}) "
                "lose their bits in subnormals"
            )
    bisect_result = None
    if options.bisect or (options.bisect_on_failure and not passed):
        if not isinstance(candidate_model, ir.Model):
            raise UsageError(
                "--bisect needs an ONNX candidate model (it fetches intermediate tensors by name)"
            )
        bisect_result = bisect_models(
            model,
            candidate_model,
            feeds,
            _factory(backend, reference, options),
            options.tolerance,
            budget_bytes=options.bisect_budget_bytes,
            progress=None
            if progress is None
            else lambda done, total: progress(f"bisect: {done} of {total} tensors compared"),
        )
        if bisect_result.found and passed:  # a drift inside that does not reach the outputs
            bisect_result = replace(
                bisect_result,
                message=f"{bisect_result.message}; the outputs still agree within tolerance",
            )
    return CompareResult(
        model=_model_label(model),
        candidate=cand_info,
        reference=ref_info,
        inputs=inputs_text,
        samples=len(feeds),
        rtol=options.rtol,
        atol=options.atol,
        outputs=outputs,
        passed=passed,
        notes=tuple(notes),
        bisect=bisect_result,
        detections=detections,
        precision=plan.precision if plan is not None else "fp32",
        precision_mode=plan.mode if plan is not None else "native",
        ranges=ranges,
        min_sqnr_db=options.min_sqnr_db,
    )


def _in_precision(
    plan: PrecisionPlan, candidate: ModelSource, options: CompareOptions, notes: list[str]
) -> tuple[ModelSource, str, CompareOptions]:
    """The candidate model, backend and options that compute in ``plan``'s precision."""
    if plan.note:
        notes.append(plan.note)
    if not plan.emulated:
        merged = {**options.backend_options, **plan.options}
        return candidate, plan.backend, replace(options, backend_options=merged)
    if not isinstance(candidate, ir.Model):
        raise UsageError(
            f"emulating {plan.precision} needs an ONNX candidate model, not {candidate}"
        )
    calibration = None
    calib = options.calibration or Calibration()
    if plan.precision == "int8":
        calibration, text = calibration_feeds(candidate, calib, options.input_shapes)
        notes.append(f"int8 calibrated ({calib.calibrator}) on {text}")
    emulated = emulated_model(plan, candidate, calibration=calibration, int8=calib.int8_options())
    emulated.meta[SOURCE_PATH_KEY] = _model_label(candidate)
    threads = options.backend_options.get("threads")
    runner_options: dict[str, Any] = {"optimization": "disable"}
    if threads is not None:
        runner_options["threads"] = threads
    return emulated, "onnxruntime", replace(options, backend_options=runner_options)


def _scan(
    model: ir.Model,
    feeds: list[Feed],
    reference: str,
    plan: PrecisionPlan,
    options: CompareOptions,
    notes: list[str],
) -> RangeScan | None:
    """Every fp32 tensor of ``model`` against the format's limits, on the reference backend."""
    if reference in ("torch",):
        notes.append("no range scan: the reference is not an ONNX backend")
        return None
    return scan_ranges(
        model,
        feeds,
        lambda path: open_runner(reference, path, options.reference_options),
        plan.precision,
        budget_bytes=options.bisect_budget_bytes,
    )


def _factory(
    backend: str, reference: str, options: CompareOptions
) -> Callable[[str, ModelSource], Runner]:
    if backend == "torch" or reference == "torch":
        raise UsageError("--bisect cannot look inside a torch module; compare two ONNX backends")

    def make(side: str, model: ModelSource) -> Runner:
        if side == "reference":
            return open_runner(reference, model, options.reference_options)
        return open_runner(backend, model, options.backend_options)

    return make
