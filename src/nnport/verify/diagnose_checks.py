"""The checks of ``nnport diagnose``, each from the statistics of runs over the images:
layout, input range, channel order, score distribution, box geometry, threshold and NMS."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from nnport.model.preprocess import PreprocessSpec
from nnport.verify.detections import DetectionOptions, Dets

PASS, WARN, FAIL = "pass", "warn", "fail"


@dataclass(frozen=True)
class Check:
    """One check's verdict and its one-line reason; ``image`` indexes an annotated image."""

    name: str
    status: str
    reason: str
    evidence: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclass
class Stats:
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


Pipeline = Callable[[PreprocessSpec, DetectionOptions], Stats]


def better(alt: Stats, cur: Stats) -> bool:
    """Does the alternative look like the pipeline that works (clearly more confident boxes)?"""
    if not alt.plausible:
        return False
    if not cur.plausible:
        return alt.confident > 0
    return alt.confident >= max(2 * cur.confident, cur.confident + 2)


def layout_check(
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


def range_check(
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
        if better(alt, best):
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


def channel_check(
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
    if better(alt, cur):
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


def score_check(stats: Stats) -> Check:
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


def geometry_check(stats: Stats, images: Sequence[np.ndarray]) -> Check:
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


def threshold_check(stats: Stats, det: DetectionOptions) -> Check:
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
