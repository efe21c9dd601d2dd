"""Detection mAP (COCO's mAP@0.5 and mAP@0.5:0.95, computed by pycocotools) over labelled images."""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnport.data.detection import LabelledImage
from nnport.errors import BackendUnavailableError, DatasetError, UsageError
from nnport.model.preprocess import Geometry, PreprocessSpec
from nnport.verify.detections import (
    DetectionLayout,
    DetectionOptions,
    Dets,
    decode,
    find_layout,
    match,
)

MAX_LISTED = 1000


def _require_pycocotools() -> tuple[Any, Any]:
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as exc:
        raise BackendUnavailableError(
            "detection mAP needs pycocotools", hint="pip install 'nnport[detect]'"
        ) from exc
    return COCO, COCOeval


def coco_map(
    truth: Sequence[LabelledImage], detections: Sequence[Dets], num_classes: int
) -> tuple[float, float]:
    """(mAP@0.5, mAP@0.5:0.95) of ``detections`` (one per image, same order) against ``truth``."""
    coco_cls, coco_eval_cls = _require_pycocotools()
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for image_id, (item, dets) in enumerate(zip(truth, detections, strict=True), 1):
        images.append({"id": image_id, "width": item.width, "height": item.height})
        for box, cls in zip(item.boxes, item.classes, strict=True):
            w, h = float(box[2] - box[0]), float(box[3] - box[1])
            annotations.append(
                {"id": len(annotations) + 1, "image_id": image_id, "category_id": int(cls) + 1,
                 "bbox": [float(box[0]), float(box[1]), w, h], "area": w * h, "iscrowd": 0}
            )  # fmt: skip
        for box, score, cls in zip(dets.boxes, dets.scores, dets.classes, strict=True):
            results.append(
                {"image_id": image_id, "category_id": int(cls) + 1, "score": float(score),
                 "bbox": [float(box[0]), float(box[1]), float(box[2] - box[0]),
                          float(box[3] - box[1])]}
            )  # fmt: skip
    if not annotations:
        return 0.0, 0.0
    if not results:
        return 0.0, 0.0
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        gt = coco_cls()
        gt.dataset = {
            "images": images,
            "annotations": annotations,
            "categories": [{"id": i + 1, "name": str(i)} for i in range(num_classes)],
        }
        gt.createIndex()
        dt = gt.loadRes(results)
        evaluator = coco_eval_cls(gt, dt, "bbox")
        evaluator.params.maxDets = [1, 10, 100]
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = np.asarray(evaluator.stats, dtype=np.float64)
    return float(max(stats[1], 0.0)), float(max(stats[0], 0.0))


@dataclass(frozen=True)
class DetectEvalOptions:
    """What to score: labelled images, backends x precisions, preprocessing, host NMS."""

    data: str
    backends: tuple[str, ...] = ("onnxruntime",)
    precisions: tuple[str, ...] = ("fp32",)
    preprocess: str | None = None  # overrides the model's nnport.preprocess metadata
    limit: int | None = None
    threads: int | None = None
    score_threshold: float = 0.01  # low, as COCO scores a ranking
    nms_iou: float = 0.5


@dataclass(frozen=True)
class BackendDetections:
    """One backend and number format: COCO mAP, agreement with the source, speed."""

    backend: str
    precision: str
    mode: str
    map50: float
    map50_95: float
    boxes: int
    agreement_with_source: float | None
    changed_images: tuple[int, ...]
    seconds: float
    images_per_second: float
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DetectEvalResult:
    """mAP per backend and precision on labelled images, and where detections change."""

    model: str
    data: str
    labels: str
    count: int
    classes: tuple[str, ...]
    preprocess: str
    backends: tuple[BackendDetections, ...]
    source: str | None
    source_map50: float | None
    source_map50_95: float | None
    changed_count: int
    changed_images: tuple[str, ...]

    @property
    def all_agree(self) -> bool:
        """True when no image's detections change between runs."""
        return self.changed_count == 0


# The source model: one preprocessed batch -> its raw outputs by name.
SourceRun = Callable[[np.ndarray], Mapping[str, np.ndarray]]


def _agreement(
    reference: Sequence[Dets], other: Sequence[Dets], iou: float
) -> tuple[float, list[int]]:
    changed = []
    for i, (r, o) in enumerate(zip(reference, other, strict=True)):
        m = match(r, o, iou)
        if m.missed or m.extra:
            changed.append(i)
    return 1.0 - len(changed) / max(1, len(reference)), changed


def _infer_with(runner: Any, input_name: str) -> Callable[[np.ndarray], Mapping[str, np.ndarray]]:
    def run(x: np.ndarray) -> Mapping[str, np.ndarray]:
        return dict(runner.infer({input_name: x}))

    return run


def _decode_all(
    run: Callable[[np.ndarray], Mapping[str, np.ndarray]],
    inputs: Sequence[tuple[np.ndarray, Geometry]],
    metadata: Mapping[str, str],
    options: DetectionOptions,
) -> tuple[list[Dets], float]:
    """Detections in source-image pixels for every preprocessed image, and the wall time."""
    out: list[Dets] = []
    layout: DetectionLayout | None = None
    start = time.perf_counter()
    for x, geo in inputs:
        outputs = run(x)
        if layout is None:
            layout = find_layout(outputs, metadata)
            if layout is None:
                shapes = {k: list(v.shape) for k, v in outputs.items()}
                raise UsageError(
                    f"the model's outputs {shapes} are not detections",
                    hint="expected boxes [1,N,4] + scores [1,N,C], or rows [K,6]",
                )
        dets = decode(outputs, layout, options)[0]
        out.append(Dets(geo.to_source(dets.boxes), dets.scores, dets.classes))
    return out, time.perf_counter() - start


def evaluate_detections(
    model_path: str | Path, options: DetectEvalOptions, source: SourceRun | None = None
) -> DetectEvalResult:
    """Run each backend (in each precision) over the labelled images; COCO mAP per run,
    agreement with the source (else with the first run) and the images whose boxes change."""
    from nnport.data.detection import read_detections, read_rgb
    from nnport.model.io import load
    from nnport.precision.formats import get_format
    from nnport.precision.native import plan_precision
    from nnport.verify.precision import open_precision_runner

    model = load(model_path)
    spec_text = options.preprocess
    spec = (
        PreprocessSpec.parse(spec_text)
        if spec_text
        else PreprocessSpec.from_metadata(model.metadata_props)
    )
    if spec is None:
        raise UsageError(
            "the model records no preprocessing (nnport.preprocess metadata)",
            hint='give --preprocess, e.g. "rgb,letterbox=160,scale=1/255"',
        )
    inputs_meta = [v for v in model.graph.inputs if v.name not in model.graph.initializers]
    if len(inputs_meta) != 1:
        raise UsageError(
            f"detection evaluation needs one image input, the model has {len(inputs_meta)}"
        )
    input_name = inputs_meta[0].name or "input"
    data = read_detections(options.data)
    items = data.items[: options.limit] if options.limit else data.items
    if not items:
        raise DatasetError(f"{options.data} holds no labelled images")
    inputs = [spec.apply(read_rgb(item.path)) for item in items]
    det_options = DetectionOptions(
        score_threshold=options.score_threshold, nms_iou=options.nms_iou, match_iou=0.5
    )
    num_classes = len(data.classes)
    source_dets = None
    source_map: tuple[float | None, float | None] = (None, None)
    if source is not None:
        source_dets, _ = _decode_all(source, inputs, model.metadata_props, det_options)
        source_map = coco_map(items, source_dets, num_classes)
    runs: list[BackendDetections] = []
    all_dets: list[list[Dets]] = []
    calibration = [{input_name: x} for x, _ in inputs[:32]]
    for backend in options.backends:
        for precision in options.precisions:
            plan = plan_precision(backend, get_format(precision).name)
            kwargs: dict[str, object] = {"threads": options.threads}
            if backend == "ncnn" and not plan.emulated:
                kwargs["input_shapes"] = {input_name: tuple(inputs[0][0].shape)}
            with open_precision_runner(
                plan, model, calibration=calibration, options=kwargs
            ) as runner:
                dets, seconds = _decode_all(
                    _infer_with(runner, input_name), inputs, model.metadata_props, det_options
                )
                config = runner.config()
            map50, map5095 = coco_map(items, dets, num_classes)
            reference = (
                source_dets if source_dets is not None else (all_dets[0] if all_dets else None)
            )
            agree, changed = (None, []) if reference is None else _agreement(reference, dets, 0.5)
            runs.append(
                BackendDetections(
                    backend, plan.precision, plan.mode, map50, map5095,
                    sum(len(d) for d in dets), agree, tuple(changed[:MAX_LISTED]), seconds,
                    len(items) / max(seconds, 1e-9), dict(config),
                )
            )  # fmt: skip
            all_dets.append(dets)
    changed_any = sorted({i for run in runs for i in run.changed_images})
    return DetectEvalResult(
        model=str(model_path),
        data=options.data,
        labels=data.labels,
        count=len(items),
        classes=data.classes,
        preprocess=spec.format(),
        backends=tuple(runs),
        source=None,
        source_map50=source_map[0],
        source_map50_95=source_map[1],
        changed_count=len(changed_any),
        changed_images=tuple(items[i].path for i in changed_any[:MAX_LISTED]),
    )
