"""Why a detector finds nothing: run the pipeline as described (preprocessing, model, threshold)
on real images and test each usual fault (input range, channel order, layout, non-finite
outputs, squashed scores, box geometry, threshold/NMS), optionally against the source model."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnport.backends import make_runner
from nnport.errors import UsageError
from nnport.model.io import load
from nnport.model.preprocess import PreprocessSpec
from nnport.verify.detections import (
    DetectionLayout,
    DetectionOptions,
    Dets,
    decode,
    find_layout,
    match,
    pre_scores,
)
from nnport.verify.diagnose_checks import (
    FAIL,
    PASS,
    WARN,
    Check,
    Stats,
    channel_check,
    geometry_check,
    layout_check,
    range_check,
    score_check,
    threshold_check,
)

logger = logging.getLogger(__name__)

Run = Callable[[np.ndarray], Mapping[str, np.ndarray]]


@dataclass(frozen=True)
class DiagnoseOptions:
    """The pipeline under test: preprocessing (None: the model's metadata), backend, threshold."""

    images: str
    preprocess: str | None = None
    backend: str = "onnxruntime"
    score_threshold: float = 0.25
    nms_iou: float = 0.5
    limit: int = 8
    source: str | None = None  # shown in the result; the caller passes the source's run
    precision: str | None = None  # also run the model in this format (fp16, bf16, int8)


@dataclass(frozen=True)
class ImageDetections:
    """One image with the pipeline's detections (source-image pixels), for the report."""

    path: str
    width: int
    height: int
    boxes: tuple[tuple[float, float, float, float, float, int], ...]  # x1, y1, x2, y2, score, cls
    source_boxes: tuple[tuple[float, float, float, float, float, int], ...] = ()


@dataclass(frozen=True)
class DiagnoseResult:
    """Every check, where the pipeline parts from the source (if given), and the images."""

    model: str
    backend: str
    preprocess: str
    model_preprocess: str
    score_threshold: float
    checks: tuple[Check, ...]
    images: tuple[ImageDetections, ...]
    source: str | None = None
    parting_stage: str = ""

    @property
    def passed(self) -> bool:
        """True when no check failed."""
        return all(c.status != FAIL for c in self.checks)


def _tensors(spec: PreprocessSpec, images: Sequence[np.ndarray]) -> list[np.ndarray]:
    return [spec.apply(img)[0] for img in images]


def _run(
    run: Run,
    tensors: Sequence[np.ndarray],
    layout: DetectionLayout,
    options: DetectionOptions,
    geos: Sequence[object] | None = None,
) -> Stats:
    dets: list[Dets] = []
    scores_max, scores_min, finite, cands, above, high = -np.inf, np.inf, True, 0, 0, 0
    for i, x in enumerate(tensors):
        out = run(x)
        for name in layout.names:
            finite &= bool(np.isfinite(out[name]).all())
        if layout.kind == "pre":
            s = np.nan_to_num(pre_scores(out, layout)[0].astype(np.float64), nan=0.0)
            best = s.max(axis=-1) if s.size else np.zeros(0)
        else:
            rows = np.nan_to_num(out[layout.rows].reshape(-1, out[layout.rows].shape[-1]))
            best = rows[:, 4] if len(rows) else np.zeros(0)
        cands += int(best.size)
        above += int((best > options.score_threshold).sum())
        high += int((best > 0.5).sum())
        if best.size:
            scores_max, scores_min = (
                max(scores_max, float(best.max())),
                min(scores_min, float(best.min())),
            )
        clean = {k: np.nan_to_num(v) for k, v in out.items()}
        d = decode(clean, layout, options)[0]
        if geos is not None:
            d = Dets(geos[i].to_source(d.boxes), d.scores, d.classes)  # type: ignore[attr-defined]
        dets.append(d)
    return Stats(dets, float(scores_max), float(scores_min), finite, cands, above, high)


def _model_run(
    model_path: str | Path, backend: str
) -> tuple[Run, Callable[[], None], tuple[int, ...]]:
    model = load(model_path)
    inputs = [v for v in model.graph.inputs if v.name not in model.graph.initializers]
    if len(inputs) != 1:
        raise UsageError(f"diagnose needs a detector with one image input; this has {len(inputs)}")
    name = inputs[0].name or "input"
    shape = tuple(d if isinstance(d, int) else -1 for d in (inputs[0].shape or ()))
    runner = make_runner(backend, model)
    runner.__enter__()

    def run(x: np.ndarray) -> Mapping[str, np.ndarray]:
        return runner.infer({name: x})

    return run, lambda: runner.__exit__(None, None, None), shape


def _fits(shape: tuple[int, ...], x: np.ndarray) -> bool:
    return len(shape) == x.ndim and all(d in (-1, n) for d, n in zip(shape, x.shape, strict=True))


def _as_model_layout(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A pipeline's tensor as the model receives it: a buffer of the wrong layout reinterpreted
    in the model's shape (what copying an HWC image into a CHW tensor does)."""
    if _fits(shape, x):
        return x
    if x.size == int(np.prod([d for d in shape if d > 0])) and -1 not in shape:
        return x.reshape(shape)
    raise UsageError(
        f"the pipeline gives tensors of shape {list(x.shape)}, the model takes {list(shape)}"
    )


def diagnose(
    model_path: str | Path,
    options: DiagnoseOptions,
    source: Run | None = None,
) -> DiagnoseResult:
    """Run the checks; ``source`` runs the original model on a tensor preprocessed as the
    model's metadata says (torch or ONNX fp32), to find where the two pipelines part."""
    from nnport.data.detection import list_images, read_rgb

    model = load(model_path)
    recorded = PreprocessSpec.from_metadata(model.metadata_props)
    given = PreprocessSpec.parse(options.preprocess) if options.preprocess else recorded
    if given is None:
        raise UsageError(
            "the model records no preprocessing and none was given",
            hint='pass --preprocess, e.g. "rgb,letterbox=160,scale=1/255"',
        )
    paths = list_images(options.images)[: options.limit]
    images = [read_rgb(p) for p in paths]
    det = DetectionOptions(score_threshold=options.score_threshold, nms_iou=options.nms_iou)
    loose = dataclasses.replace(det, score_threshold=min(0.25, options.score_threshold))
    run, close, shape = _model_run(model_path, options.backend)
    try:
        return _diagnose(
            model_path, model.metadata_props, options, given, recorded, images, paths, run,
            shape, det, loose, source,
        )  # fmt: skip
    finally:
        close()


def _diagnose(
    model_path: str | Path,
    metadata: Mapping[str, str],
    options: DiagnoseOptions,
    given: PreprocessSpec,
    recorded: PreprocessSpec | None,
    images: list[np.ndarray],
    paths: list[Path],
    run: Run,
    shape: tuple[int, ...],
    det: DetectionOptions,
    loose: DetectionOptions,
    source: Run | None,
) -> DiagnoseResult:
    checks: list[Check] = []
    geos = [given.geometry(img.shape[0], img.shape[1]) for img in images]

    def pipeline(spec: PreprocessSpec, opts: DetectionOptions) -> Stats:
        tensors = [_as_model_layout(t, shape) for t in _tensors(spec, images)]
        return _run(run, tensors, layout, opts, geos)

    first = run(_as_model_layout(_tensors(given, images[:1])[0], shape))
    found = find_layout(first, metadata)
    if found is None:
        raise UsageError(
            f"the model's outputs {[list(v.shape) for v in first.values()]} are not detections",
            hint="expected boxes [1,N,4] + scores [1,N,C] or rows [K,6]",
        )
    layout = found
    as_given = pipeline(given, det)
    checks.append(layout_check(given, recorded, shape, pipeline, loose))
    checks.append(range_check(given, recorded, pipeline, loose))
    checks.append(channel_check(given, recorded, pipeline, loose))
    checks.append(
        Check("output-finite", PASS if as_given.finite else FAIL,
              "every output value is finite" if as_given.finite
              else "the outputs hold NaN or Inf: the model (or its precision) overflows")
    )  # fmt: skip
    checks.append(score_check(as_given))
    checks.append(geometry_check(pipeline(given, loose), images))
    checks.append(threshold_check(as_given, det))
    if options.precision:
        tensors = [_as_model_layout(t, shape) for t in _tensors(given, images)]
        checks.append(_precision_check(model_path, options, tensors, layout, det, geos, as_given))
    stage = ""
    source_dets: list[Dets] = []
    if source is not None:
        stage, source_dets, check = _against_source(
            given, recorded, images, run, source, shape, layout, det, geos, as_given
        )
        checks.append(check)
    annotated = tuple(
        ImageDetections(
            str(p), int(img.shape[1]), int(img.shape[0]), _rows(d),
            _rows(source_dets[i]) if source_dets else (),
        )
        for i, (p, img, d) in enumerate(zip(paths, images, as_given.detections, strict=True))
    )  # fmt: skip
    return DiagnoseResult(
        model=str(model_path),
        backend=options.backend,
        preprocess=given.format(),
        model_preprocess=recorded.format() if recorded else "",
        score_threshold=det.score_threshold,
        checks=tuple(checks),
        images=annotated,
        source=options.source,
        parting_stage=stage,
    )


def _rows(d: Dets) -> tuple[tuple[float, float, float, float, float, int], ...]:
    return tuple(
        (float(b[0]), float(b[1]), float(b[2]), float(b[3]), float(s), int(c))
        for b, s, c in zip(d.boxes, d.scores, d.classes, strict=True)
    )


def _precision_check(
    model_path: str | Path,
    options: DiagnoseOptions,
    tensors: list[np.ndarray],
    layout: DetectionLayout,
    det: DetectionOptions,
    geos: Sequence[object],
    fp32: Stats,
) -> Check:
    """The same pipeline with the model computing in ``options.precision`` (natively where the
    backend can, else emulated): do the boxes survive?"""
    from nnport.precision.formats import get_format
    from nnport.precision.native import plan_precision
    from nnport.verify.precision import open_precision_runner

    model = load(model_path)
    name = next(v.name for v in model.graph.inputs if v.name not in model.graph.initializers)
    plan = plan_precision(options.backend, get_format(options.precision or "fp32").name)
    calibration = [{name or "input": t} for t in tensors]
    with open_precision_runner(plan, model, calibration=calibration) as runner:
        low = _run(lambda x: runner.infer({name or "input": x}), tensors, layout, det, geos)
    changed = 0
    for a, b in zip(fp32.detections, low.detections, strict=True):
        m = match(a, b, 0.5)
        changed += int(bool(m.missed or m.extra))
    label = f"{plan.precision} ({plan.mode})"
    evidence = {"fp32_boxes": float(fp32.kept), "boxes": float(low.kept), "changed": float(changed)}
    if not low.finite:
        return Check("precision", FAIL, f"in {label} the outputs hold NaN or Inf", evidence)
    if low.kept == 0 and fp32.kept > 0:
        return Check(
            "precision", FAIL, f"in {label} no box survives ({fp32.kept} in fp32)", evidence
        )
    if changed:
        return Check(
            "precision", WARN,
            f"in {label} the boxes change on {changed} of {len(tensors)} image(s) "
            f"({low.kept} boxes, {fp32.kept} in fp32)",
            evidence,
        )  # fmt: skip
    return Check("precision", PASS, f"in {label} the same {low.kept} boxes as in fp32", evidence)


def _against_source(
    given: PreprocessSpec, recorded: PreprocessSpec | None, images: Sequence[np.ndarray],
    run: Run, source: Run, shape: tuple[int, ...], layout: DetectionLayout,
    det: DetectionOptions, geos: Sequence[object], as_given: Stats,
) -> tuple[str, list[Dets], Check]:  # fmt: skip
    reference = recorded or given
    ref_tensors = _tensors(reference, images)
    ref_geos = [reference.geometry(img.shape[0], img.shape[1]) for img in images]
    src = _run(source, ref_tensors, layout, det, ref_geos)
    same_model = _run(run, [_as_model_layout(t, shape) for t in ref_tensors], layout, det, ref_geos)

    def agree(a: list[Dets], b: list[Dets]) -> bool:
        return all(
            not (m.missed or m.extra) for m in (match(x, y, 0.5) for x, y in zip(a, b, strict=True))
        )

    if not agree(src.detections, same_model.detections):
        stage = "model"
        reason = "on the source's own preprocessing the model's detections already differ from the source's: the model (conversion, precision) changed"
    elif not agree(src.detections, as_given.detections):
        stage = "preprocessing or post-processing"
        reason = (
            f"the model matches the source on the source's input ({reference.format()}), "
            f"but the pipeline as given ({given.format()}, threshold {det.score_threshold:g}) does not"
        )
    else:
        stage = ""
        reason = f"the pipeline's detections match the source's ({src.kept} boxes)"
    status = PASS if not stage else FAIL
    return stage, src.detections, Check("source", status, reason, {"source_boxes": float(src.kept)})
