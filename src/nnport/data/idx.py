"""Read the original MNIST IDX files (gzipped or raw), validating magic numbers, counts and sizes."""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnport.errors import DatasetError

IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension

SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10000),
}


@dataclass(frozen=True)
class MnistSplit:
    """One MNIST split: uint8 images (N, 28, 28) and int64 labels (N,)."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def _find(folder: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem, stem.replace("-idx", ".idx")):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    raise DatasetError(
        f"{folder} has no {stem}.gz (nor {stem})",
        hint="point --data at the folder holding the four original MNIST IDX files",
    )


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            return gzip.decompress(raw)
        return raw
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DatasetError(f"{path} is corrupt or truncated: {exc}") from exc


def read_idx(path: Path, *, magic: int) -> np.ndarray:
    """Parse one IDX file into a uint8 array, checking its magic number and declared size."""
    data = _read_bytes(path)
    if len(data) < 8:
        raise DatasetError(f"{path} is too short to be an IDX file ({len(data)} bytes)")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise DatasetError(
            f"{path} has magic number 0x{found:08x}, expected 0x{magic:08x} "
            f"({'images' if magic == IMAGES_MAGIC else 'labels'} file)",
            hint="the file is not an MNIST IDX file or images and labels were swapped",
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{path} is truncated inside its header")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims))
    body = len(data) - header
    if body != expected:
        raise DatasetError(
            f"{path} declares shape {'x'.join(map(str, dims))} ({expected} bytes of data) "
            f"but holds {body} bytes",
            hint="the file is truncated or corrupt; re-download it",
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def load_mnist(folder: str | Path, split: str = "test", *, limit: int | None = None) -> MnistSplit:
    """Load the ``train`` or ``test`` split from a folder of MNIST IDX files."""
    folder = Path(folder)
    if not folder.exists():
        raise DatasetError(f"MNIST folder {folder} does not exist")
    if not folder.is_dir():
        raise DatasetError(f"{folder} is not a folder", hint="--data takes the folder of IDX files")
    images_stem, labels_stem, _count = SPLITS[split]
    images = read_idx(_find(folder, images_stem), magic=IMAGES_MAGIC)
    labels = read_idx(_find(folder, labels_stem), magic=LABELS_MAGIC)
    if images.shape[1:] != (28, 28):
        raise DatasetError(f"{images_stem}: images are {images.shape[1:]}, expected 28x28")
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(
            f"{folder}: {images.shape[0]} {split} images but {labels.shape[0]} labels",
            hint="the images and labels files come from different splits or one is damaged",
        )
    if labels.size and int(labels.max()) > 9:
        raise DatasetError(f"{labels_stem}: label {int(labels.max())} is not a digit 0-9")
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return MnistSplit(images=images, labels=labels.astype(np.int64))
