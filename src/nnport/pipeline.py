"""``port``, the main job: check, fix with verified rewrites, re-check, compare, convert, bench."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import onnx_ir as ir

from nnport.backends.convert import CONVERTERS, ConvertResult, convert
from nnport.bench.run import BenchOptions, BenchResult, bench
from nnport.check import CheckReport, check
from nnport.errors import NnportError
from nnport.model.device_preprocess import write_device_configs
from nnport.model.dtypes import dtype_name
from nnport.model.io import SOURCE_PATH_KEY, save
from nnport.model.specs import graph_inputs
from nnport.passes import FixOptions, FixResult, fix
from nnport.passes.atc import atc_command, is_atc_target, precision_mode
from nnport.passes.keep_fp32 import PrecisionReport, write_keep_file
from nnport.passes.split_postprocess import HOST_SUFFIX
from nnport.passes.split_preprocess import PRE_SUFFIX
from nnport.targets import load_target
from nnport.verify.compare import CompareOptions, CompareResult, compare
from nnport.verify.inputs import load_npz

logger = logging.getLogger(__name__)

# Targets that are also runtimes here: the fixed model is converted and run on them.
# NNIE's runtime here: its Caffe model (convert --to caffe) run by OpenCV's Caffe importer.
RUNTIME_TARGETS = {
    "onnxruntime": "onnxruntime",
    "openvino": "openvino",
    "ncnn": "ncnn",
    "nnie": "caffe",
}

Progress = Callable[[str], None]


@dataclass(frozen=True)
class PortOptions:
    """Tolerances, inputs and how much checking and timing ``port`` does."""

    input_shapes: Mapping[str, tuple[int, ...]] | None = None
    inputs: str | None = None
    rtol: float = 1e-4
    atol: float = 1e-5
    runtime_rtol: float = 1e-3
    runtime_atol: float = 1e-4
    samples: int = 2
    seed: int = 0
    backends: tuple[str, ...] = ()
    bench_iterations: int = 20
    precision: str = "f32"
    # The number format the fixed model is verified in (None: the target's default, "": none).
    verify_precision: str | None = None
    # Cut NMS-like post-processing (data-dependent shapes) off to a host model when it blocks.
    split_postprocess: bool = True


@dataclass(frozen=True)
class Stage:
    """One step of the job: its name, outcome ('ok', 'failed', 'skipped'), time and detail."""

    name: str
    status: str
    seconds: float
    detail: str = ""


@dataclass(frozen=True)
class PortResult:
    """Everything ``port`` found and wrote, stage by stage."""

    model: str
    target: str
    output: str
    deployable: bool
    verified: bool
    check_before: CheckReport
    check_after: CheckReport
    fix: FixResult
    compares: tuple[CompareResult, ...]
    conversions: tuple[ConvertResult, ...]
    bench: BenchResult | None
    atc_command: str
    stages: tuple[Stage, ...]
    # Post-processing cut off to run on the host (fix.split says what and why), or "".
    host_output: str = ""
    # Input pre-processing cut off to run on the host, or "".
    pre_output: str = ""
    # How the fixed model's inputs and outputs differ from the original's (what callers must
    # change), one line each; empty when the interface is the same.
    interface: tuple[str, ...] = ()
    # Device-side preprocessing written from the model's spec (Ascend AIPP, NNIE mapper lines).
    device_preprocess: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Deployable, verified, every stage done and every comparison passed."""
        return (
            self.deployable
            and self.verified
            and all(stage.status != "failed" for stage in self.stages)
            and all(c.passed for c in self.compares)
        )


def _default_backends(target: str, options: PortOptions) -> tuple[str, ...]:
    if options.backends:
        return options.backends
    runtime = RUNTIME_TARGETS.get(target)
    return ("onnxruntime",) if runtime in (None, "onnxruntime") else ("onnxruntime", runtime)


def _backend_options(backend: str, options: PortOptions) -> dict[str, str]:
    return {"precision": options.precision} if backend == "openvino" else {}


def _compare_options(base: CompareOptions, backend: str, options: PortOptions) -> CompareOptions:
    """The fix is proven on ONNX Runtime at the fix tolerances; other runtimes get their own."""
    if backend == "onnxruntime":
        return base
    return dataclasses.replace(
        base,
        rtol=options.runtime_rtol,
        atol=options.runtime_atol,
        backend_options=_backend_options(backend, options),
    )


def precision_stage(report: PrecisionReport) -> Stage:
    """The fix's verdict in the device's number format as a stage of its own."""
    status = "failed" if report.broke and not report.passed else "ok"
    if not report.broke and report.error != report.error:  # not verified (int8 without data)
        status = "skipped"
    if not report.broke:
        detail = (
            report.reason
            if status == "skipped"
            else f"matches, SQNR {report.sqnr_db:.1f} dB, max error {report.error:.3g}"
        )
    elif report.passed:
        detail = (f"breaks (error {report.error_before:.3g}); {len(report.kept)} node(s) kept "
                  f"in fp32 match (max error {report.error:.3g}, {report.runs} run(s))")  # fmt: skip
    else:
        detail = report.reason
    return Stage(f"verify in {report.label}", status, report.seconds, detail)


def _signature(values: Iterable[ir.Value], skip: Collection[str] = ()) -> dict[str, str]:
    """name -> 'dtype[dims]' of graph inputs or outputs (initializers skipped)."""
    return {
        v.name or "": f"{dtype_name(v.dtype)}[{','.join(str(d) for d in (v.shape or ()))}]"
        for v in values
        if v.name not in skip
    }


def interface_changes(
    original: ir.Model, fixed: ir.Model, *, pre_output: str = "", host_output: str = ""
) -> tuple[str, ...]:
    """What a caller of the fixed model must do differently, one line per changed input/output.

    A retyped input (cast-graph-io: int64 token ids taken as float32), a frozen shape, an input
    that now goes through the host pre-processing part, an output that changed type or shape or
    now comes from the host post-processing part.
    """
    host = {"input": pre_output, "output": host_output}
    via = {"input": "goes through {} first", "output": "comes from {}"}
    lines: list[str] = []
    for kind, before, after in (
        (
            "input",
            _signature(original.graph.inputs, original.graph.initializers),
            _signature(fixed.graph.inputs, fixed.graph.initializers),
        ),
        ("output", _signature(original.graph.outputs), _signature(fixed.graph.outputs)),
    ):
        for name, was in before.items():
            now = after.get(name)
            if now is None:
                where = via[kind].format(host[kind]) if host[kind] else "removed"
                lines.append(f"{kind} {name!r} {was}: {where}")
            elif now != was:
                lines.append(f"{kind} {name!r}: {was} -> {now}")
        for name, now in after.items():
            if name not in before:
                split = f" (the boundary with {host[kind]})" if host[kind] else ""
                lines.append(f"{kind} {name!r} {now}: new{split}")
    return tuple(lines)


class _Stages:
    """Times each stage, reports it to the progress callback and keeps the record."""

    def __init__(self, progress: Progress | None) -> None:
        self.records: list[Stage] = []
        self._progress = progress or (lambda _text: None)

    def start(self, name: str) -> float:
        self._progress(name)
        return time.perf_counter()

    def done(self, name: str, started: float, status: str = "ok", detail: str = "") -> None:
        self.records.append(Stage(name, status, time.perf_counter() - started, detail))


def port(
    model: ir.Model,
    target: str,
    out_dir: str | Path,
    options: PortOptions | None = None,
    *,
    progress: Progress | None = None,
) -> PortResult:
    """Take ``model`` to ``target``: verdict, verified fixes, fixed model on disk, proof, speed."""
    options = options or PortOptions()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    profile = load_target(target)
    stages = _Stages(progress)
    source = str(model.meta.get(SOURCE_PATH_KEY, "model.onnx"))
    shapes = dict(options.input_shapes or {})
    feeds = load_npz(options.inputs, model) if options.inputs else None

    t = stages.start(f"check against {profile.name}")
    before = check(model, profile, input_shapes=shapes or None)
    stages.done("check", t, detail=f"{len(before.violations)} violation(s)")

    t = stages.start("fix (every pass verified)")
    fix_result = fix(
        model,
        profile,
        input_shapes=shapes or None,
        inputs=feeds,
        options=FixOptions(
            rtol=options.rtol, atol=options.atol, seed=options.seed, samples=options.samples,
            split_postprocess=options.split_postprocess, precision=options.verify_precision,
        ),
    )  # fmt: skip
    fixed = fix_result.model if fix_result.model is not None else model
    # After a split the fixed model is the device part: backends compare it with the device
    # part of the original (the host part was proven by fix on ONNX Runtime).
    reference = fix_result.device_source if fix_result.split is not None else model
    shapes = dict(fix_result.input_shapes) or shapes
    if fix_result.pre_model is not None:
        shapes = {}  # a pre-split device part takes the (static) pre-processing outputs
    kept = sum(1 for p in fix_result.passes if p.kept)
    detail = f"{kept} pass(es) kept, max error {fix_result.max_error:.3g}"
    if fix_result.split is not None:
        detail += "; post-processing split off to the host (device then host verified)"
    stages.done("fix", t, detail=detail)

    t = stages.start("re-check")
    after = check(fixed, profile, input_shapes=shapes or None)
    stages.done("re-check", t, "ok" if after.deployable else "failed",
                f"{len(after.violations)} violation(s) left")  # fmt: skip
    verdict = fix_result.precision
    if verdict is not None:  # verified inside fix: recorded as its own stage
        stages.records.append(precision_stage(verdict))

    output = out / f"{Path(source).stem}.{profile.name}.onnx"
    t = stages.start(f"write {output}")
    save(fixed, output)
    stages.done("write", t, detail=str(output))
    if verdict is not None:
        verdict = write_keep_file(verdict, output, profile)
        fix_result = dataclasses.replace(fix_result, precision=verdict)
    host_output = pre_output = ""
    stem = f"{Path(source).stem}.{profile.name}"
    if fix_result.split is not None and fix_result.host_model is not None:
        host_output = str(out / f"{stem}{HOST_SUFFIX}")
        t = stages.start(f"write {host_output} (host post-processing)")
        save(fix_result.host_model, host_output)
        stages.done("write host part", t, detail=host_output)
    if fix_result.split is not None and fix_result.pre_model is not None:
        pre_output = str(out / f"{stem}{PRE_SUFFIX}")
        t = stages.start(f"write {pre_output} (host pre-processing)")
        save(fix_result.pre_model, pre_output)
        stages.done("write host pre-processing", t, detail=pre_output)
    if fix_result.split is not None:
        split = dataclasses.replace(
            fix_result.split, host_output=host_output, pre_output=pre_output
        )
        fix_result = dataclasses.replace(fix_result, split=split)

    device_pre = write_device_configs(
        model.metadata_props, tuple(graph_inputs(fixed)[0].shape or ()), profile.name, out / stem
    )  # the model's preprocessing spec as the device's own config (AIPP, NNIE), if any
    compares: list[CompareResult] = []
    conversions: list[ConvertResult] = []
    backends = _default_backends(profile.name, options)
    compare_options = CompareOptions(
        rtol=options.rtol,
        atol=options.atol,
        samples=options.samples,
        seed=options.seed,
        # The user's inputs feed the original's graph inputs, not a pre-split device part.
        inputs=None if fix_result.pre_model is not None else options.inputs,
        input_shapes=shapes or None,
        # Bisect what fails, as `nnport compare --bisect` after a failed compare would: a
        # bisect of a passing pair runs the models once per chunk of tensors (56 s, not 1.6 s,
        # on a Whisper-tiny encoder) and finds nothing to report.
        bisect_on_failure=True,
    )
    for backend in backends:
        if backend in CONVERTERS:
            t = stages.start(f"convert for {backend}")
            try:
                conversions.append(convert(fixed, backend, out / backend, input_shapes=shapes))
                stages.done(f"convert {backend}", t)
            except NnportError as exc:
                stages.done(f"convert {backend}", t, "failed", exc.one_line())
                continue
        what = "the original's device part" if reference is not model else "the original"
        t = stages.start(f"compare on {backend} against {what}")
        try:
            result = compare(
                reference,
                against=fixed,
                backend=backend,
                options=_compare_options(compare_options, backend, options),
            )
        except NnportError as exc:
            stages.done(f"compare {backend}", t, "failed", exc.one_line())
            continue
        compares.append(result)
        stages.done(f"compare {backend}", t, "ok" if result.passed else "failed")

    bench_result: BenchResult | None = None
    if options.bench_iterations > 0:
        t = stages.start("bench")
        try:
            bench_result = bench(
                fixed,
                backends,
                BenchOptions(
                    iterations=options.bench_iterations,
                    warmup=2,
                    input_shapes=shapes or None,
                    backend_options={b: _backend_options(b, options) for b in backends},
                    seed=options.seed,
                ),
            )
            errors = [f"{x.backend}: {x.error}" for x in bench_result.timings if x.error]
            stages.done("bench", t, "failed" if errors else "ok", "; ".join(errors))
        except NnportError as exc:
            stages.done("bench", t, "failed", exc.one_line())

    atc = ""
    if is_atc_target(profile.name):
        atc = atc_command(
            fixed, profile.name, output, shapes=shapes,
            precision_mode=precision_mode(verdict.converter_flags) if verdict else "",
            keep_dtype=verdict.keep_file if verdict else "",
        )  # fmt: skip
        atc += "".join(f" --insert_op_conf={p}" for p in device_pre if p.endswith(".aipp.cfg"))
    return PortResult(
        model=source,
        target=profile.name,
        output=str(output),
        deployable=after.deployable,
        verified=fix_result.verified,
        check_before=before,
        check_after=after,
        fix=fix_result.without_model(),
        compares=tuple(compares),
        conversions=tuple(conversions),
        bench=bench_result,
        atc_command=atc,
        stages=tuple(stages.records),
        host_output=host_output,
        pre_output=pre_output,
        interface=interface_changes(model, fixed, pre_output=pre_output, host_output=host_output),
        device_preprocess=device_pre,
    )
