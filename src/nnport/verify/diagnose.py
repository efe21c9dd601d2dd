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

logger = logging.getLogger(__name__)

PASS, WARN, FAIL = "pass", "warn", "fail"
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


@dataclass(frozen=True)
class Check:
    """One check's verdict and its one-line reason; ``image`` indexes an annotated image."""

    name: str
    status: str
    reason: str
    evidence: dict[str, float] = dataclasses.field(default_factory=dict)


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


@dataclass
class _Stats:
    """What one run over the images gave: raw candidate scores and final detections."""

    detections: list[Dets]
    max_score: float
    min_score: float
    finite: bool
    candidates: int
    above: int
    high: int = 0  # candidates scoring over 0.5 before NMS

    @property
    def plausible(self) -> bool:
        """Do the detections look like objects rather than saturated noise? A detector scores
        most of its grid low; when over a quarter of the candidates score high, or the boxes
        outnumber 20 per image, the input is not what it was trained on."""
        images = max(1, len(self.detections))
        return self.high <= self.candidates / 4 and self.confident <= 20 * images

    @property
    def kept(self) -> int:
        return sum(len(d) for d in self.detections)

    @property
    def confident(self) -> int:
        """Detections scoring at least 0.5: what a healthy pipeline shows on object images."""
        return sum(int((d.scores >= 0.5).sum()) for d in self.detections)


def _tensors(spec: PreprocessSpec, images: Sequence[np.ndarray]) -> list[np.ndarray]:
    return [spec.apply(img)[0] for img in images]


def _run(
    run: Run,
    tensors: Sequence[np.ndarray],
    layout: DetectionLayout,
    options: DetectionOptions,
    geos: Sequence[object] | None = None,
) -> _Stats:
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
    return _Stats(dets, float(scores_max), float(scores_min), finite, cands, above, high)


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

    def pipeline(spec: PreprocessSpec, opts: DetectionOptions) -> _Stats:
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
    checks.append(_layout_check(given, recorded, shape, pipeline, loose))
    checks.append(_range_check(given, recorded, pipeline, loose))
    checks.append(_channel_check(given, recorded, pipeline, loose))
    checks.append(
        Check("output-finite", PASS if as_given.finite else FAIL,
              "every output value is finite" if as_given.finite
              else "the outputs hold NaN or Inf: the model (or its precision) overflows")
    )  # fmt: skip
    checks.append(_score_check(as_given))
    checks.append(_geometry_check(pipeline(given, loose), images))
    checks.append(_threshold_check(as_given, det))
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


Pipeline = Callable[[PreprocessSpec, DetectionOptions], _Stats]


def _better(alt: _Stats, cur: _Stats) -> bool:
    """Does the alternative look like the pipeline that works (clearly more confident boxes)?"""
    if not alt.plausible:
        return False
    if not cur.plausible:
        return alt.confident > 0
    return alt.confident >= max(2 * cur.confident, cur.confident + 2)


def _layout_check(
    given: PreprocessSpec, recorded: PreprocessSpec | None, shape: tuple[int, ...],
    pipeline: Pipeline, loose: DetectionOptions,
) -> Check:  # fmt: skip
    channels_first = len(shape) == 4 and shape[1] == 3
    channels_last = len(shape) == 4 and shape[3] == 3
    wants = "nchw" if channels_first else "nhwc" if channels_last else given.layout
    if given.layout == wants:
        return Check(
            "layout", PASS, f"the pipeline gives {wants.upper()}, the model takes {list(shape)}"
        )
    fixed = dataclasses.replace(given, layout=wants)
    cur, alt = pipeline(given, loose), pipeline(fixed, loose)
    return Check(
        "layout", FAIL,
        f"the pipeline gives {given.layout.upper()} but the model takes {wants.upper()} "
        f"{list(shape)}: the image is scrambled ({cur.confident} confident boxes; laid out "
        f"{wants.upper()}: {alt.confident})",
        {"boxes_as_given": cur.confident, "boxes_fixed": alt.confident},
    )  # fmt: skip


def _range_check(
    given: PreprocessSpec, recorded: PreprocessSpec | None, pipeline: Pipeline,
    loose: DetectionOptions,
) -> Check:  # fmt: skip
    cur = pipeline(given, loose)
    hypotheses = {
        "0-255 scaled to 0-1 (x/255)": given.scale / 255,
        "0-1 raised to 0-255 (x*255)": given.scale * 255,
    }
    best_name, best = "", cur
    for name, scale in hypotheses.items():
        alt = pipeline(dataclasses.replace(given, scale=scale), loose)
        if _better(alt, best):
            best_name, best = name, alt
    metadata_scale = recorded is not None and abs(recorded.scale - given.scale) > 1e-9 * max(
        1.0, recorded.scale
    )
    evidence = {
        "boxes_as_given": float(cur.confident),
        "boxes_best_hypothesis": float(best.confident),
    }
    if best_name:
        return Check(
            "input-range", FAIL,
            f"the input range looks wrong: {cur.confident} confident boxes as fed "
            f"(scale={given.scale:g}), {best.confident} with {best_name}"
            + (f"; the model was exported with scale={recorded.scale:g}" if metadata_scale and recorded else ""),
            evidence,
        )  # fmt: skip
    if metadata_scale and recorded is not None:
        return Check(
            "input-range", WARN,
            f"the pipeline scales by {given.scale:g}, the model was exported with "
            f"{recorded.scale:g}, yet detections do not improve with the model's scale",
            evidence,
        )  # fmt: skip
    return Check(
        "input-range",
        PASS,
        f"scale={given.scale:g} gives the most confident boxes ({cur.confident})",
        evidence,
    )


def _channel_check(
    given: PreprocessSpec, recorded: PreprocessSpec | None, pipeline: Pipeline,
    loose: DetectionOptions,
) -> Check:  # fmt: skip
    other = "bgr" if given.channels == "rgb" else "rgb"
    cur = pipeline(given, loose)
    alt = pipeline(dataclasses.replace(given, channels=other), loose)
    evidence = {"boxes_as_given": float(cur.confident), "boxes_swapped": float(alt.confident)}
    if recorded is not None and recorded.channels != given.channels:
        return Check(
            "channel-order", FAIL,
            f"the pipeline feeds {given.channels.upper()}, the model was exported for "
            f"{recorded.channels.upper()} ({cur.confident} confident boxes as fed, "
            f"{alt.confident} swapped)",
            evidence,
        )  # fmt: skip
    if _better(alt, cur):
        return Check(
            "channel-order", FAIL,
            f"swapping to {other.upper()} gives {alt.confident} confident boxes, as fed {cur.confident}",
            evidence,
        )  # fmt: skip
    return Check(
        "channel-order",
        PASS,
        f"{given.channels.upper()} as the model expects ({cur.confident} confident boxes; swapped {alt.confident})",
        evidence,
    )


def _score_check(stats: _Stats) -> Check:
    evidence = {"max_score": stats.max_score, "min_score": stats.min_score}
    if stats.candidates == 0:
        return Check("score-distribution", WARN, "the model gave no candidates to score", evidence)
    if stats.min_score >= 0.5 - 1e-6 and stats.max_score <= 0.7312:
        return Check(
            "score-distribution", FAIL,
            f"every score lies in [{stats.min_score:.3f}, {stats.max_score:.3f}] ⊂ [0.5, 0.731]: "
            "sigmoid applied twice (the graph already ends in a Sigmoid)",
            evidence,
        )  # fmt: skip
    if stats.min_score >= 0.5 - 1e-6:
        return Check(
            "score-distribution", WARN,
            f"no score under 0.5 (min {stats.min_score:.3f}): scores may be squashed", evidence
        )  # fmt: skip
    if stats.max_score < 0.05:
        return Check(
            "score-distribution",
            FAIL,
            f"the highest score is {stats.max_score:.3g}: the model sees no object",
            evidence,
        )
    return Check(
        "score-distribution",
        PASS,
        f"scores span {stats.min_score:.3g}..{stats.max_score:.3g}",
        evidence,
    )


def _geometry_check(stats: _Stats, images: Sequence[np.ndarray]) -> Check:
    outside = degenerate = bad = total = 0
    for d, img in zip(stats.detections, images, strict=True):
        h, w = img.shape[:2]
        b = d.boxes.astype(np.float64)
        total += len(b)
        bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        flat = (bw <= 0.5) | (bh <= 0.5)
        margin = 0.1 * max(h, w)
        out = (b[:, 0] < -margin) | (b[:, 1] < -margin) | (b[:, 2] > w + margin)
        out |= (b[:, 3] > h + margin) | (bw > 2 * w) | (bh > 2 * h)
        degenerate += int(flat.sum())
        outside += int(out.sum())
        bad += int((flat | out).sum())
    evidence = {"boxes": float(total), "outside": float(outside), "degenerate": float(degenerate)}
    if total == 0:
        return Check("decode-geometry", WARN, "no boxes to check the decoding on", evidence)
    if bad > total / 2:
        return Check(
            "decode-geometry", FAIL,
            f"{bad} of {total} boxes are outside the image, zero-area or larger than it: "
            "the box decoding (grid, stride, xywh/xyxy) does not match the model",
            evidence,
        )  # fmt: skip
    if bad:
        return Check(
            "decode-geometry",
            WARN,
            f"{bad} of {total} boxes are outside the image or degenerate",
            evidence,
        )
    return Check(
        "decode-geometry", PASS, f"all {total} boxes lie in the image with positive area", evidence
    )


def _threshold_check(stats: _Stats, det: DetectionOptions) -> Check:
    evidence = {
        "candidates": float(stats.candidates),
        "above_threshold": float(stats.above),
        "after_nms": float(stats.kept),
    }
    stages = f"{stats.candidates} candidates -> {stats.above} above {det.score_threshold:g} -> {stats.kept} after NMS"
    if stats.candidates and stats.above == 0 and stats.max_score > 0.05:
        return Check(
            "threshold-nms", FAIL,
            f"the score threshold {det.score_threshold:g} is above every score (max "
            f"{stats.max_score:.3f}): {stages}",
            evidence,
        )  # fmt: skip
    if stats.above and stats.kept == 0:
        return Check("threshold-nms", FAIL, f"NMS removes every box: {stages}", evidence)
    return Check("threshold-nms", PASS, stages, evidence)


def _against_source(
    given: PreprocessSpec, recorded: PreprocessSpec | None, images: Sequence[np.ndarray],
    run: Run, source: Run, shape: tuple[int, ...], layout: DetectionLayout,
    det: DetectionOptions, geos: Sequence[object], as_given: _Stats,
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
