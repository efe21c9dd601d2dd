"""Fetch the four original MNIST IDX files from a mirror and verify them by SHA-256."""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nnport.errors import DatasetError

logger = logging.getLogger(__name__)

# Mirrors of LeCun, Cortes and Burges' files (yann.lecun.com often refuses downloads); each
# holds the four NAME.gz files. The first that answers is used.
MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

# name -> (SHA-256 of the decompressed IDX bytes, their size). The data is checked, not the
# gzip wrapper, so a copy compressed at another level (like ../shared/data/mnist) verifies too.
FILES: dict[str, tuple[str, int]] = {
    "train-images-idx3-ubyte": (
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        47_040_016,
    ),
    "train-labels-idx1-ubyte": (
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        60_008,
    ),
    "t10k-images-idx3-ubyte": (
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        7_840_016,
    ),
    "t10k-labels-idx1-ubyte": (
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        10_008,
    ),
}


@dataclass(frozen=True)
class MnistFile:
    """One verified file: where it is, its data's SHA-256, and where it came from."""

    name: str
    path: str
    sha256: str
    size: int
    source: str  # the URL it was downloaded from, or "already present"


@dataclass(frozen=True)
class MnistDownload:
    """The folder holding the four verified MNIST files."""

    folder: str
    files: tuple[MnistFile, ...]

    @property
    def downloaded(self) -> int:
        return sum(1 for f in self.files if f.source != "already present")


def data_digest(path: Path) -> tuple[str, int]:
    """SHA-256 and size of a file's IDX data (gunzipped when it is gzip)."""
    try:
        raw = path.read_bytes()
        data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DatasetError(f"{path} is corrupt or truncated: {exc}") from exc
    return hashlib.sha256(data).hexdigest(), len(data)


def verify_file(path: Path, name: str) -> str:
    """Check ``path`` holds MNIST's ``name`` (e.g. 'train-images-idx3-ubyte'); its SHA-256."""
    expected, size = FILES[name]
    digest, found = data_digest(path)
    if digest != expected:
        raise DatasetError(
            f"{path} is not MNIST's {name}: its data has SHA-256 {digest} ({found} bytes), "
            f"expected {expected} ({size} bytes)",
            hint="the download is damaged or the mirror serves other files; try another --mirror",
        )
    return digest


def _fetch(url: str, target: Path, timeout: float) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as response, target.open("wb") as out:
        while chunk := response.read(1 << 20):
            out.write(chunk)


def _download_one(folder: Path, name: str, mirrors: Sequence[str], timeout: float) -> MnistFile:
    final = folder / f"{name}.gz"
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + f"/{name}.gz"
        handle, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
        os.close(handle)
        part = Path(temp)
        try:
            logger.info("downloading %s", url)
            _fetch(url, part, timeout)
            digest = verify_file(part, name)
            part.replace(final)  # atomic: a failed download leaves nothing named like the file
            return MnistFile(name, str(final), digest, FILES[name][1], url)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            failures.append(f"{url}: {reason}")
        except DatasetError as exc:
            failures.append(exc.one_line())
        finally:
            part.unlink(missing_ok=True)
    raise DatasetError(
        f"could not download {name}.gz from any mirror ({'; '.join(failures)})",
        hint="no network here? download the four files elsewhere, copy them into the folder "
        "and run again to verify them (README: MNIST data)",
    )


def download_mnist(
    folder: str | Path, *, mirrors: Sequence[str] = MIRRORS, timeout: float = 60.0
) -> MnistDownload:
    """Make ``folder`` hold the four MNIST files, verified: files already there that verify
    are kept, the others are downloaded from the first mirror that serves them."""
    out = Path(folder).expanduser()
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out} exists and is not a folder")
    if not mirrors:
        raise DatasetError("no mirror to download MNIST from")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        files = [_verified_or_downloaded(out, name, mirrors, timeout) for name in FILES]
    except DatasetError:
        if created and not any(out.iterdir()):
            out.rmdir()  # a failed first run leaves no empty folder behind
        raise
    return MnistDownload(str(out), tuple(files))


def _verified_or_downloaded(
    out: Path, name: str, mirrors: Sequence[str], timeout: float
) -> MnistFile:
    """The file already in ``out`` when it verifies, else a fresh verified download."""
    present = next((p for p in (out / f"{name}.gz", out / name) if p.is_file()), None)
    if present is not None:
        try:
            digest = verify_file(present, name)
        except DatasetError as exc:
            logger.warning("%s; downloading it again", exc.one_line())
        else:
            return MnistFile(name, str(present), digest, FILES[name][1], "already present")
    return _download_one(out, name, mirrors, timeout)
