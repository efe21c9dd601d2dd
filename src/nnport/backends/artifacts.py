"""Shared helpers for runners and converters: ONNX files from model sources, atomic artifact dirs."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import onnx_ir as ir

from nnport.backends.base import ModelSource
from nnport.errors import ModelSaveError
from nnport.model.atomic import temp_dir
from nnport.model.io import save


@contextlib.contextmanager
def onnx_file(source: ModelSource) -> Iterator[Path]:
    """A path to an ONNX file for ``source``: the file itself, or a temporary copy of a model."""
    if not isinstance(source, ir.Model):
        yield Path(source)
        return
    tmp = Path(tempfile.mkdtemp(prefix="nnport-onnx-"))
    try:
        path = tmp / "model.onnx"
        save(source, path)  # self-contained: external data is copied, never left relative
        yield path
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def staging_dir(out_dir: Path) -> Iterator[Path]:
    """A temporary folder beside ``out_dir`` whose files move into ``out_dir`` only on success.

    Files are moved with ``os.replace`` (atomic per file) after the block finishes without
    error; on any error the staging folder is removed and ``out_dir`` is left as it was.
    """
    out_dir = Path(out_dir)
    parent = out_dir.parent if out_dir.parent != Path("") else Path(".")
    if not parent.is_dir():
        raise ModelSaveError(f"output folder {parent} does not exist")
    if out_dir.exists() and not out_dir.is_dir():
        raise ModelSaveError(f"{out_dir} exists and is not a folder")
    tmp = temp_dir(parent, "convert")  # named for this process: swept if it is killed
    try:
        yield tmp
        out_dir.mkdir(exist_ok=True)
        # Weights first, the description file last, so a reader never sees a new graph with old
        # weights.
        files = sorted(tmp.iterdir(), key=lambda p: p.suffix in (".xml", ".param", ".prototxt"))
        for item in files:
            os.replace(item, out_dir / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def dir_size(path: Path) -> int:
    """Total bytes of the files in ``path`` (or of ``path`` itself when it is a file)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def nodes_running(source: ModelSource | None, ops: list[str], limit: int = 5) -> list[str]:
    """Quoted names of the nodes running ``ops`` (``domain.Op`` or ``Op``), for error messages."""
    if source is None:
        return []
    try:
        model = source if isinstance(source, ir.Model) else ir.load(str(source))
    except Exception:  # only used to improve a message; the original error is what matters
        return []
    wanted = set(ops)
    names = []
    for node in model.graph.all_nodes():
        key = f"{node.domain}.{node.op_type}" if node.domain else node.op_type
        if key in wanted or node.op_type in wanted:
            names.append(repr(node.name or f"<unnamed {node.op_type}>"))
    return names[:limit] + ([f"... {len(names) - limit} more"] if len(names) > limit else [])
