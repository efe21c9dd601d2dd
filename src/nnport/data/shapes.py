"""Generate the shapes detection dataset: coloured circles, squares and triangles on textured
backgrounds, deterministic from a seed, with YOLO txt and COCO JSON labels per split."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnport.errors import DatasetError, UsageError

logger = logging.getLogger(__name__)

CLASSES = ("circle", "square", "triangle")
SPLITS = ("train", "val")


@dataclass(frozen=True)
class ShapesConfig:
    """How many images, how big, how many objects and of what size; ``seed`` fixes every pixel."""

    images: int = 2000  # training images; the val split gets a fifth of that (at least 10)
    size: int = 160
    seed: int = 0
    min_objects: int = 1
    max_objects: int = 4
    min_side: int = 14
    max_side: int = 56

    @property
    def val_images(self) -> int:
        """Images in the val split."""
        return max(10, self.images // 5)


@dataclass(frozen=True)
class ShapesResult:
    """What ``generate_shapes`` wrote: the folder, classes, images and objects per split."""

    root: str
    classes: tuple[str, ...]
    size: int
    seed: int
    images: dict[str, int]
    objects: dict[str, int]


@dataclass(frozen=True)
class Sample:
    """One image (uint8 HWC RGB) and its objects: xyxy pixel boxes and class indices."""

    image: np.ndarray
    boxes: np.ndarray  # float32 (K, 4) x1, y1, x2, y2 in pixels (x2/y2 exclusive)
    classes: np.ndarray  # int64 (K,)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A base colour, a smooth low-frequency blotch field, stripes or checks, and pixel noise."""
    base = rng.uniform(40, 215, size=3)
    cells = int(rng.integers(3, 7))
    coarse = rng.normal(0.0, 1.0, size=(cells, cells, 3))
    idx = np.linspace(0, cells - 1, size)
    i0 = np.floor(idx).astype(int)
    i1 = np.minimum(i0 + 1, cells - 1)
    t = (idx - i0)[:, None]
    rows = coarse[i0] * (1 - t[:, :, None]) + coarse[i1] * t[:, :, None]  # (size, cells, 3)
    field = rows[:, i0] * (1 - t.T[:, :, None]) + rows[:, i1] * t.T[:, :, None]
    image = base + field * rng.uniform(10, 30)
    yy, xx = np.mgrid[0:size, 0:size]
    pattern = int(rng.integers(0, 3))
    if pattern == 1:  # stripes at a random angle
        angle = rng.uniform(0, np.pi)
        period = rng.uniform(6, 20)
        wave = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
        image += (wave[:, :, None] * rng.uniform(5, 15, size=3)).astype(np.float64)
    elif pattern == 2:  # checks
        period = int(rng.integers(8, 24))
        check = ((xx // period + yy // period) % 2) * 2 - 1
        image += check[:, :, None] * rng.uniform(5, 15, size=3)
    image += rng.normal(0.0, rng.uniform(2, 8), size=image.shape)
    return image


def _mask(kind: int, side: int, rng: np.random.Generator) -> np.ndarray:
    """A boolean ``side`` x ``side`` mask of the shape (the shape touches all four edges)."""
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float64) + 0.5
    if kind == 0:  # circle
        r = side / 2
        return bool_mask((xx - r) ** 2 + (yy - r) ** 2 <= r * r)
    if kind == 1:  # square
        return np.ones((side, side), dtype=bool)
    # triangle: apex on top at a random horizontal position, base along the bottom edge
    apex = rng.uniform(0.3, 0.7) * side
    left = xx >= apex * (1 - yy / side)
    right = xx <= apex + (side - apex) * (yy / side)
    return bool_mask(left & right)


def bool_mask(mask: np.ndarray) -> np.ndarray:
    """``mask`` as a contiguous bool array."""
    return np.ascontiguousarray(mask, dtype=bool)


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    if len(boxes) == 0:
        return np.zeros((0,))
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return np.asarray(inter / (area + areas - inter))


def render_sample(config: ShapesConfig, split: str, index: int) -> Sample:
    """Image ``index`` of ``split``: the same pixels for the same seed, on every machine."""
    stream = SPLITS.index(split)
    rng = np.random.default_rng([config.seed, stream, index])
    size = config.size
    image = _background(rng, size)
    boxes: list[np.ndarray] = []
    classes: list[int] = []
    wanted = int(rng.integers(config.min_objects, config.max_objects + 1))
    for _ in range(wanted * 10):  # rejection sampling keeps objects mostly apart
        if len(boxes) == wanted:
            break
        side = int(rng.integers(config.min_side, min(config.max_side, size) + 1))
        x = int(rng.integers(0, size - side + 1))
        y = int(rng.integers(0, size - side + 1))
        box = np.array([x, y, x + side, y + side], dtype=np.float64)
        if boxes and _iou(box, np.array(boxes)).max() > 0.1:
            continue
        kind = int(rng.integers(0, len(CLASSES)))
        mask = _mask(kind, side, rng)
        patch = image[y : y + side, x : x + side]
        local = patch.mean(axis=(0, 1))
        colour = rng.uniform(0, 255, size=3)
        for _attempt in range(20):  # a colour that stands out from what lies under it
            if np.abs(colour - local).sum() > 150:
                break
            colour = rng.uniform(0, 255, size=3)
        shade = colour + rng.normal(0.0, 4.0, size=(side, side, 3))
        patch[mask] = shade[mask]
        ys, xs = np.nonzero(mask)
        boxes.append(
            np.array([x + xs.min(), y + ys.min(), x + xs.max() + 1, y + ys.max() + 1], np.float64)
        )
        classes.append(kind)
    pixels = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return Sample(
        pixels,
        np.array(boxes, dtype=np.float32).reshape(-1, 4),
        np.array(classes, dtype=np.int64),
    )


def _yolo_lines(sample: Sample, size: int) -> str:
    lines = []
    for (x1, y1, x2, y2), cls in zip(sample.boxes, sample.classes, strict=True):
        cx, cy, w, h = (
            (x1 + x2) / 2 / size,
            (y1 + y2) / 2 / size,
            (x2 - x1) / size,
            (y2 - y1) / size,
        )
        lines.append(f"{int(cls)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return "\n".join(lines) + ("\n" if lines else "")


def _write_split(
    config: ShapesConfig,
    split: str,
    count: int,
    folder: Path,
    progress: Callable[[int, int], None] | None,
) -> int:
    from PIL import Image

    images_dir = folder / "images"
    labels_dir = folder / "labels"
    images_dir.mkdir(parents=True)
    labels_dir.mkdir()
    coco_images: list[dict[str, object]] = []
    annotations: list[dict[str, object]] = []
    for index in range(count):
        sample = render_sample(config, split, index)
        name = f"{index:06d}"
        Image.fromarray(sample.image).save(images_dir / f"{name}.png", optimize=False)
        (labels_dir / f"{name}.txt").write_text(_yolo_lines(sample, config.size))
        coco_images.append(
            {"id": index + 1, "file_name": f"images/{name}.png", "width": config.size,
             "height": config.size}
        )  # fmt: skip
        for (x1, y1, x2, y2), cls in zip(sample.boxes, sample.classes, strict=True):
            w, h = float(x2 - x1), float(y2 - y1)
            annotations.append(
                {"id": len(annotations) + 1, "image_id": index + 1, "category_id": int(cls) + 1,
                 "bbox": [float(x1), float(y1), w, h], "area": w * h, "iscrowd": 0}
            )  # fmt: skip
        if progress is not None:
            progress(index + 1, count)
    coco = {
        "images": coco_images,
        "annotations": annotations,
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(CLASSES)],
    }
    (folder / "annotations.json").write_text(json.dumps(coco))
    return len(annotations)


def generate_shapes(
    out: str | Path,
    config: ShapesConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ShapesResult:
    """Write ``out/{train,val}/{images,labels}`` and ``annotations.json`` plus ``classes.txt``.

    The folder is built beside ``out`` and renamed into place, so a failed run leaves nothing;
    an existing non-empty ``out`` is refused rather than mixed with.
    """
    config = config or ShapesConfig()
    if config.images < 1:
        raise UsageError("--images must be at least 1")
    if config.size < 32 or config.min_side < 4 or config.max_side < config.min_side:
        raise UsageError("the image size must be at least 32 and 4 <= min side <= max side")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(f"{out} exists and is not an empty folder", hint="pick a new -o folder")
    if not out.parent.exists():
        raise DatasetError(f"output folder {out.parent} does not exist")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    counts = {"train": config.images, "val": config.val_images}
    objects: dict[str, int] = {}
    try:
        total = sum(counts.values())
        done = 0
        for split in SPLITS:

            def step(i: int, _n: int, base: int = done) -> None:
                if progress is not None:
                    progress(base + i, total)

            objects[split] = _write_split(config, split, counts[split], tmp / split, step)
            done += counts[split]
        (tmp / "classes.txt").write_text("\n".join(CLASSES) + "\n")
        (tmp / "README.txt").write_text(
            f"nnport shapes dataset: seed {config.seed}, {config.size}x{config.size} RGB PNG.\n"
            "Labels: SPLIT/labels/NAME.txt (YOLO: class cx cy w h, normalized) and "
            "SPLIT/annotations.json (COCO, category ids = class index + 1).\n"
        )
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("wrote %s: %s images, %s objects", out, counts, objects)
    return ShapesResult(str(out), CLASSES, config.size, config.seed, counts, objects)
