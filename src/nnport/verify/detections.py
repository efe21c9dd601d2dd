"""Detections as sets of boxes: find a detector's outputs, decode them with host NMS, and compare
two runs by matching boxes (IoU, same class) instead of element by element."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

DETECT_META_KEY = "nnport.detector"


@dataclass(frozen=True)
class DetectionOptions:
    """Host post-processing (score threshold, class-aware NMS) and the matching rule."""

    score_threshold: float = 0.25
    nms_iou: float = 0.5
    max_detections: int = 100
    match_iou: float = 0.5
    score_tolerance: float = 0.05


@dataclass(frozen=True)
class Dets:
    """One image's detections: xyxy boxes (K, 4), scores (K,), class indices (K,)."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


@dataclass(frozen=True)
class DetectionLayout:
    """Which outputs hold detections: ``pre`` (boxes [B,N,4] + scores [B,N,C]) or ``post``
    (rows [K,6] or [B,K,6]: x1, y1, x2, y2, score, class)."""

    kind: str
    boxes: str = ""
    scores: str = ""
    rows: str = ""
    transposed: bool = False  # scores laid out [B, C, N] (as NMS takes them)

    @property
    def names(self) -> tuple[str, ...]:
        """The outputs this layout reads."""
        return tuple(n for n in (self.boxes, self.scores, self.rows) if n)


@dataclass(frozen=True)
class DetectionComparison:
    """Boxes of the candidate matched to the reference's (IoU >= match_iou, same class)."""

    layout: str
    outputs: tuple[str, ...]
    samples: int
    reference_boxes: int
    candidate_boxes: int
    matched: int
    missed: int
    extra: int
    mean_iou: float
    min_iou: float
    max_score_drift: float
    tie_explained: int
    passed: bool
    score_threshold: float
    match_iou: float
    changed_samples: tuple[int, ...] = ()
    message: str = ""


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes ``a`` (N, 4) and ``b`` (M, 4)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy NMS, highest score first (ties: lower index first)."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    suppressed = np.zeros(len(scores), dtype=bool)
    overlaps = iou_matrix(boxes, boxes)
    for i in order:
        if suppressed[i]:
            continue
        keep.append(int(i))
        suppressed |= overlaps[i] > iou
    return np.array(keep, dtype=np.int64)


def select(
    boxes: np.ndarray, scores: np.ndarray, options: DetectionOptions
) -> tuple[np.ndarray, np.ndarray]:
    """Class-aware NMS over one image's candidates: (kept candidate indices, their classes).

    ``scores`` is (N, C); every (candidate, class) pair above the threshold competes within its
    class, the best ``max_detections`` survive.
    """
    scores = np.asarray(scores, np.float64).reshape(len(boxes), -1)
    cand, cls = np.nonzero(scores > options.score_threshold)
    kept_idx: list[np.ndarray] = []
    kept_cls: list[np.ndarray] = []
    for c in np.unique(cls):
        members = cand[cls == c]
        keep = members[nms(boxes[members], scores[members, c], options.nms_iou)]
        kept_idx.append(keep)
        kept_cls.append(np.full(len(keep), c, dtype=np.int64))
    if not kept_idx:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    idx = np.concatenate(kept_idx)
    classes = np.concatenate(kept_cls)
    top = np.argsort(-scores[idx, classes], kind="stable")[: options.max_detections]
    return idx[top], classes[top]


def postprocess(boxes: np.ndarray, scores: np.ndarray, options: DetectionOptions) -> Dets:
    """Decoded candidates of one image (boxes (N, 4), scores (N, C)) to final detections."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores = np.asarray(scores, np.float32).reshape(len(boxes), -1)
    idx, classes = select(boxes, scores, options)
    return Dets(boxes[idx], scores[idx, classes], classes)


def rows_to_dets(rows: np.ndarray, options: DetectionOptions) -> Dets:
    """Post-NMS rows (K, 6+): x1, y1, x2, y2, score, class; rows under the threshold dropped."""
    rows = np.asarray(rows, np.float32).reshape(-1, rows.shape[-1] if rows.size else 6)
    rows = rows[rows[:, 4] > options.score_threshold] if len(rows) else rows
    return Dets(rows[:, :4], rows[:, 4], np.rint(rows[:, 5]).astype(np.int64))


def find_layout(
    outputs: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None
) -> DetectionLayout | None:
    """The detection outputs: from ``nnport.detector`` metadata when present, else by shape
    (a [B,N,4] tensor beside a [B,N,C] one, or one [K,6] / [B,K,6] tensor named like detections)."""
    if metadata and DETECT_META_KEY in metadata:
        try:
            spec = json.loads(metadata[DETECT_META_KEY])
            layout = DetectionLayout(
                str(spec["kind"]), spec.get("boxes", ""), spec.get("scores", ""),
                spec.get("rows", ""),
            )  # fmt: skip
            if all(n in outputs for n in layout.names):
                return layout
        except (ValueError, KeyError, TypeError):
            pass
    names = list(outputs)
    for b in names:
        box = outputs[b]
        if box.ndim == 3 and box.shape[-1] == 4 and _look_like_boxes(box):
            for s in names:
                sc = outputs[s]
                if s != b and sc.ndim == 3 and sc.shape[:2] == box.shape[:2] and _probabilities(sc):
                    return DetectionLayout("pre", boxes=b, scores=s)
        for s in names:  # scores [B, C, N], as a graph cut before NonMaxSuppression gives them
            sc = outputs[s]
            if (
                s != b
                and sc.ndim == 3
                and sc.shape[0] == box.shape[0]
                and sc.shape[2] == box.shape[1]
                and sc.shape[1] != box.shape[1]
                and _probabilities(sc)
            ):
                return DetectionLayout("pre", boxes=b, scores=s, transposed=True)
    for r in names:
        rows = outputs[r]
        named = any(k in r.lower() for k in ("det", "box", "nms"))
        if named and rows.ndim in (2, 3) and rows.shape[-1] in (6, 7):
            return DetectionLayout("post", rows=r)
    return None


def pre_scores(outputs: Mapping[str, np.ndarray], layout: DetectionLayout) -> np.ndarray:
    """A pre-NMS layout's scores as [B, N, C]."""
    scores = outputs[layout.scores]
    return np.swapaxes(scores, 1, 2) if layout.transposed else scores


def _look_like_boxes(boxes: np.ndarray) -> bool:
    """Decoded xyxy boxes, not raw regression deltas: x2 >= x1 and y2 >= y1 almost always."""
    flat = np.asarray(boxes, np.float64).reshape(-1, 4)
    if not len(flat) or not np.isfinite(flat).all():
        return bool(len(flat))
    ordered = (flat[:, 2] >= flat[:, 0]) & (flat[:, 3] >= flat[:, 1])
    return bool(ordered.mean() >= 0.95)


def _probabilities(scores: np.ndarray) -> bool:
    """Scores in [0, 1] (after a sigmoid or softmax), not logits."""
    finite = scores[np.isfinite(scores)]
    return bool(finite.size == 0 or (finite.min() >= 0.0 and finite.max() <= 1.0))


def decode(
    outputs: Mapping[str, np.ndarray], layout: DetectionLayout, options: DetectionOptions
) -> list[Dets]:
    """Per-image detections from one run's outputs."""
    if layout.kind == "pre":
        boxes, scores = outputs[layout.boxes], pre_scores(outputs, layout)
        return [postprocess(boxes[i], scores[i], options) for i in range(boxes.shape[0])]
    rows = outputs[layout.rows]
    if rows.ndim == 2:
        return [rows_to_dets(rows, options)]
    return [rows_to_dets(rows[i], options) for i in range(rows.shape[0])]


@dataclass(frozen=True)
class Matching:
    """One image's matching: pairs (reference index, candidate index, IoU), and the leftovers."""

    pairs: tuple[tuple[int, int, float], ...]
    missed: tuple[int, ...]
    extra: tuple[int, ...]


def match(reference: Dets, candidate: Dets, iou: float) -> Matching:
    """Greedy matching, best reference score first, each to its best same-class candidate."""
    overlaps = iou_matrix(reference.boxes, candidate.boxes)
    same = reference.classes[:, None] == candidate.classes[None, :]
    overlaps = np.where(same, overlaps, 0.0)
    used = np.zeros(len(candidate), dtype=bool)
    pairs: list[tuple[int, int, float]] = []
    missed: list[int] = []
    for i in np.argsort(-reference.scores, kind="stable"):
        row = np.where(used, -1.0, overlaps[i]) if len(candidate) else np.zeros(0)
        j = int(np.argmax(row)) if len(row) else -1
        if j >= 0 and row[j] >= iou:
            used[j] = True
            pairs.append((int(i), j, float(row[j])))
        else:
            missed.append(int(i))
    extra = tuple(int(j) for j in np.nonzero(~used)[0])
    return Matching(tuple(pairs), tuple(missed), extra)


def _same_candidates(
    ref: Mapping[str, np.ndarray],
    cand: Mapping[str, np.ndarray],
    layout: DetectionLayout,
    sample: int,
    options: DetectionOptions,
) -> bool:
    """Pre-NMS only: do both runs decode the same boxes at the indices either run keeps?

    When they do, any difference in the kept sets comes from NMS breaking ties (or a score on
    the threshold) differently, not from the model.
    """
    rb, cb = ref[layout.boxes][sample], cand[layout.boxes][sample]
    rs, cs = pre_scores(ref, layout)[sample], pre_scores(cand, layout)[sample]
    ri, _ = select(rb, rs, options)
    ci, _ = select(cb, cs, options)
    idx = np.union1d(ri, ci)
    if len(idx) == 0:
        return True
    ious = np.diag(iou_matrix(rb[idx], cb[idx]))
    close = np.abs(rb[idx].astype(np.float64) - cb[idx]).max(axis=1) <= 1e-3 * (
        1.0 + np.abs(rb[idx]).max(axis=1)
    )  # equal boxes count as the same even when degenerate (IoU 0)
    drift = np.abs(rs[idx].astype(np.float64) - cs[idx]).max()
    same = (ious >= options.match_iou) | close
    return bool(same.all() and drift <= options.score_tolerance)


class DetectionAccumulator:
    """Collects per-sample matchings of a candidate's detections against a reference's."""

    def __init__(self, layout: DetectionLayout, options: DetectionOptions) -> None:
        self.layout = layout
        self.options = options
        self._ref = self._cand = self._matched = self._missed = self._extra = self._ties = 0
        self._ious: list[float] = []
        self._drift = 0.0
        self._changed: list[int] = []
        self._samples = 0

    def add(self, reference: Mapping[str, np.ndarray], candidate: Mapping[str, np.ndarray]) -> None:
        """Match one sample's (one batch's) detections."""
        opts = self.options
        refs = decode(reference, self.layout, opts)
        cands = decode(candidate, self.layout, opts)
        for image, (r, c) in enumerate(zip(refs, cands, strict=False)):
            sample = self._samples
            self._samples += 1
            m = match(r, c, opts.match_iou)
            self._ref += len(r)
            self._cand += len(c)
            self._matched += len(m.pairs)
            self._ious.extend(p[2] for p in m.pairs)
            for i, j, _ in m.pairs:
                self._drift = max(self._drift, abs(float(r.scores[i]) - float(c.scores[j])))
            if m.missed or m.extra:
                if self.layout.kind == "pre" and _same_candidates(
                    reference, candidate, self.layout, image, opts
                ):
                    self._ties += len(m.missed) + len(m.extra)
                else:
                    self._missed += len(m.missed)
                    self._extra += len(m.extra)
                    self._changed.append(sample)

    def result(self) -> DetectionComparison:
        """The summary over every sample added."""
        opts = self.options
        passed = self._missed == 0 and self._extra == 0 and self._drift <= opts.score_tolerance
        mean_iou = float(np.mean(self._ious)) if self._ious else 1.0
        min_iou = float(np.min(self._ious)) if self._ious else 1.0
        message = (
            f"{self._matched}/{self._ref} reference boxes matched, {self._missed} missed, "
            f"{self._extra} extra; mean IoU {mean_iou:.3f}, score drift {self._drift:.3g}"
        )
        if self._ties:
            message += (
                f"; {self._ties} box(es) differ only through NMS ties (same decoded candidates)"
            )
        return DetectionComparison(
            layout=self.layout.kind,
            outputs=self.layout.names,
            samples=self._samples,
            reference_boxes=self._ref,
            candidate_boxes=self._cand,
            matched=self._matched,
            missed=self._missed,
            extra=self._extra,
            mean_iou=mean_iou,
            min_iou=min_iou,
            max_score_drift=self._drift,
            tie_explained=self._ties,
            passed=passed,
            score_threshold=opts.score_threshold,
            match_iou=opts.match_iou,
            changed_samples=tuple(self._changed[:1000]),
            message=message,
        )


def layout_metadata(layout: DetectionLayout) -> str:
    """The ``nnport.detector`` metadata value describing ``layout``."""
    spec = {
        "kind": layout.kind,
        "boxes": layout.boxes,
        "scores": layout.scores,
        "rows": layout.rows,
    }
    return json.dumps({k: v for k, v in spec.items() if v})


def stack_dets(items: Sequence[Dets]) -> Dets:
    """Several images' detections concatenated (for counting)."""
    if not items:
        return Dets(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))
    return Dets(
        np.concatenate([d.boxes for d in items]),
        np.concatenate([d.scores for d in items]),
        np.concatenate([d.classes for d in items]),
    )


def accumulator_for(
    metadata: Mapping[str, str], outputs: Mapping[str, np.ndarray], options: DetectionOptions
) -> DetectionAccumulator | None:
    """A detection accumulator when ``outputs`` (the reference's first run) are detections."""
    layout = find_layout(outputs, metadata)
    return None if layout is None else DetectionAccumulator(layout, options)


def verdict(outputs: Sequence[object], detections: DetectionComparison) -> bool:
    """Boxes decide for the detection outputs; every other output still compares element-wise."""
    others = [o for o in outputs if getattr(o, "name", "") not in detections.outputs]
    return detections.passed and all(bool(getattr(o, "passed", True)) for o in others)
