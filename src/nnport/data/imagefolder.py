"""Read image folders (one sub-folder per class) with Pillow: validation, stratified split, batches."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnport.errors import DatasetError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}


@dataclass(frozen=True)
class ImageFolder:
    """Image paths with class indices; ``classes`` are the sorted sub-folder names."""

    root: str
    classes: tuple[str, ...]
    samples: tuple[tuple[str, int], ...]

    def __len__(self) -> int:
        return len(self.samples)


def scan_image_folder(root: str | Path, *, min_per_class: int = 1) -> ImageFolder:
    """List ``root/CLASS/*.png|jpg|...``; refuse missing folders, empty classes, stray layouts."""
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"image folder {root} does not exist")
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder", hint="--data takes ROOT/CLASS/IMAGE files")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        loose = [p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
        hint = "put each class's images in its own sub-folder: ROOT/CLASS/IMAGE"
        if loose:
            raise DatasetError(
                f"{root} holds {len(loose)} images but no class sub-folders", hint=hint
            )
        raise DatasetError(f"{root} has no class sub-folders", hint=hint)
    samples: list[tuple[str, int]] = []
    for index, folder in enumerate(class_dirs):
        files = sorted(
            p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if len(files) < min_per_class:
            raise DatasetError(
                f"class folder {folder} has {len(files)} images, need at least {min_per_class}",
                hint=f"image files end in {', '.join(sorted(IMAGE_SUFFIXES))}",
            )
        samples.extend((str(p), index) for p in files)
    if len(class_dirs) < 2:
        raise DatasetError(f"{root} has only one class folder ({class_dirs[0].name}); need two")
    return ImageFolder(str(root), tuple(p.name for p in class_dirs), tuple(samples))


def split_folder(
    folder: ImageFolder, val_fraction: float, seed: int
) -> tuple[ImageFolder, ImageFolder]:
    """Stratified split: ``val_fraction`` of each class (at least one image) is held out."""
    rng = random.Random(seed)
    train: list[tuple[str, int]] = []
    held: list[tuple[str, int]] = []
    for index in range(len(folder.classes)):
        items = [s for s in folder.samples if s[1] == index]
        rng.shuffle(items)
        n_val = max(1, round(len(items) * val_fraction)) if val_fraction > 0 else 0
        if n_val >= len(items):
            raise DatasetError(
                f"class {folder.classes[index]!r} has {len(items)} images: too few to hold "
                f"out {val_fraction:.0%} and still train"
            )
        held.extend(items[:n_val])
        train.extend(items[n_val:])
    return (
        ImageFolder(folder.root, folder.classes, tuple(train)),
        ImageFolder(folder.root, folder.classes, tuple(held)),
    )


def load_image(path: str, size: int) -> np.ndarray:
    """One image as uint8 CHW RGB, resized to ``size`` x ``size`` (bilinear)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
            array = np.asarray(rgb, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DatasetError(f"cannot read image {path}: {exc}") from exc
    return np.ascontiguousarray(array.transpose(2, 0, 1))


def load_images(folder: ImageFolder, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Every image of ``folder`` as uint8 (N, 3, size, size) and int64 labels (N,)."""
    if not folder.samples:
        return np.zeros((0, 3, size, size), np.uint8), np.zeros((0,), np.int64)
    images = np.stack([load_image(path, size) for path, _ in folder.samples])
    labels = np.array([label for _, label in folder.samples], dtype=np.int64)
    return images, labels
