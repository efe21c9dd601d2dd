"""Read labelled detection images: a folder of images with YOLO txt labels or a COCO JSON file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnport.data.imagefolder import IMAGE_SUFFIXES
from nnport.errors import DatasetError


@dataclass(frozen=True)
class LabelledImage:
    """One image file and its ground truth: xyxy pixel boxes and class indices."""

    path: str
    width: int
    height: int
    boxes: np.ndarray  # float32 (K, 4)
    classes: np.ndarray  # int64 (K,)


@dataclass(frozen=True)
class DetectionSet:
    """Labelled images with the class names; ``labels`` says which format they came from."""

    root: str
    classes: tuple[str, ...]
    items: tuple[LabelledImage, ...]
    labels: str  # "yolo" or "coco"

    def __len__(self) -> int:
        return len(self.items)


def read_rgb(path: str | Path) -> np.ndarray:
    """An image file as uint8 HWC RGB."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DatasetError(f"cannot read image {path}: {exc}") from exc


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder`` or its ``images/`` sub-folder, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"image folder {folder} does not exist")
    base = folder / "images" if (folder / "images").is_dir() else folder
    files = sorted(p for p in base.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DatasetError(f"{base} holds no images", hint="PNG/JPEG files, or an images/ folder")
    return files


def _classes_near(folder: Path) -> tuple[str, ...]:
    for candidate in (folder / "classes.txt", folder.parent / "classes.txt"):
        if candidate.is_file():
            return tuple(
                line.strip() for line in candidate.read_text().splitlines() if line.strip()
            )
    return ()


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return int(image.width), int(image.height)
    except OSError as exc:
        raise DatasetError(f"cannot read image {path}: {exc}") from exc


def read_yolo(folder: str | Path) -> DetectionSet:
    """``folder/images/NAME.png`` with ``folder/labels/NAME.txt`` (class cx cy w h, normalized)."""
    folder = Path(folder)
    labels_dir = folder / "labels"
    if not labels_dir.is_dir():
        raise DatasetError(f"{folder} has no labels/ folder", hint="YOLO layout: images/ + labels/")
    items = []
    top_class = -1
    for path in list_images(folder):
        width, height = _image_size(path)
        label = labels_dir / f"{path.stem}.txt"
        rows = []
        if label.is_file():
            for number, line in enumerate(label.read_text().splitlines(), 1):
                if not line.strip():
                    continue
                parts = line.split()
                try:
                    cls, cx, cy, w, h = int(parts[0]), *map(float, parts[1:5])
                except (ValueError, IndexError) as exc:
                    raise DatasetError(
                        f"{label}:{number}: expected 'class cx cy w h', got {line.strip()!r}"
                    ) from exc
                rows.append((cls, cx, cy, w, h))
        cls_arr = np.array([r[0] for r in rows], dtype=np.int64)
        vals = np.array([r[1:] for r in rows], dtype=np.float64).reshape(-1, 4)
        boxes = np.stack(
            [
                (vals[:, 0] - vals[:, 2] / 2) * width,
                (vals[:, 1] - vals[:, 3] / 2) * height,
                (vals[:, 0] + vals[:, 2] / 2) * width,
                (vals[:, 1] + vals[:, 3] / 2) * height,
            ],
            axis=1,
        ).astype(np.float32)
        top_class = max(top_class, int(cls_arr.max(initial=-1)))
        items.append(LabelledImage(str(path), width, height, boxes, cls_arr))
    classes = _classes_near(folder) or tuple(str(i) for i in range(top_class + 1))
    return DetectionSet(str(folder), classes, tuple(items), "yolo")


def read_coco(annotations: str | Path, images_root: str | Path | None = None) -> DetectionSet:
    """A COCO JSON file; class indices follow the sorted category ids."""
    annotations = Path(annotations)
    root = Path(images_root) if images_root else annotations.parent
    try:
        data = json.loads(annotations.read_text())
        categories = sorted(data["categories"], key=lambda c: c["id"])
        images = data["images"]
        anns = data.get("annotations", [])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetError(f"{annotations} is not a COCO annotations file: {exc}") from exc
    index_of = {c["id"]: i for i, c in enumerate(categories)}
    per_image: dict[int, list[tuple[int, list[float]]]] = {}
    for ann in anns:
        if ann.get("iscrowd", 0):
            continue
        per_image.setdefault(ann["image_id"], []).append(
            (index_of[ann["category_id"]], ann["bbox"])
        )
    items = []
    for image in sorted(images, key=lambda i: i["id"]):
        path = root / image["file_name"]
        if not path.is_file():
            raise DatasetError(f"{annotations} names {image['file_name']}, not found under {root}")
        rows = per_image.get(image["id"], [])
        boxes = np.array(
            [[x, y, x + w, y + h] for _, (x, y, w, h) in rows], dtype=np.float32
        ).reshape(-1, 4)
        cls = np.array([c for c, _ in rows], dtype=np.int64)
        items.append(
            LabelledImage(str(path), int(image["width"]), int(image["height"]), boxes, cls)
        )
    classes = tuple(str(c["name"]) for c in categories)
    return DetectionSet(str(root), classes, tuple(items), "coco")


def read_detections(path: str | Path) -> DetectionSet:
    """A COCO JSON file, a folder holding ``annotations.json``, or a YOLO images/labels folder."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".json":
        return read_coco(path)
    if not path.exists():
        raise DatasetError(f"{path} does not exist")
    if (path / "labels").is_dir():
        return read_yolo(path)
    if (path / "annotations.json").is_file():
        return read_coco(path / "annotations.json")
    raise DatasetError(
        f"{path} has neither labels/ (YOLO txt) nor annotations.json (COCO)",
        hint="for the shapes dataset pass its split folder, e.g. DIR/val",
    )
