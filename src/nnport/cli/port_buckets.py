"""``nnport port buckets.json``: port every shape bucket an export wrote, one folder each, and
say when ATC's gears would serve the buckets with one model."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from nnport.cli.common import console, emit_json
from nnport.errors import UsageError


def read_manifest(path: Path) -> list[dict[str, Any]]:
    """The buckets of a ``buckets.json`` (each: shapes, file beside the manifest)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        buckets = data["buckets"]
        for bucket in buckets:
            if not (path.parent / bucket["file"]).is_file():
                raise UsageError(f"{path}: bucket file {bucket['file']} is missing")
            bucket["shapes"] = {k: tuple(int(d) for d in v) for k, v in bucket["shapes"].items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path} is not a buckets.json manifest written by nnport export") from exc
    if not buckets:
        raise UsageError(f"{path} lists no buckets")
    return list(buckets)


def pick_bucket(manifest: Path, shapes: dict[str, tuple[int, ...]]) -> Path:
    """The bucket file whose input shapes are ``shapes`` (given with --input-shape)."""
    buckets = read_manifest(manifest)
    listed = "; ".join(
        ",".join(f"{k}:{'x'.join(map(str, v))}" for k, v in b["shapes"].items()) for b in buckets
    )
    if not shapes:
        raise UsageError(f"{manifest} holds {len(buckets)} buckets: pick one with --input-shape",
                         hint=listed)  # fmt: skip
    for bucket in buckets:
        have = bucket["shapes"]
        if len(have) == 1 and set(shapes) == {""}:  # one input, given without its name
            have = {"": next(iter(have.values()))}
        if all(have.get(name) == shape for name, shape in shapes.items()):
            return manifest.parent / bucket["file"]
    raise UsageError(f"no bucket of {manifest} has input shape {shapes}", hint=listed)


def gears_note(buckets: list[dict[str, Any]]) -> str:
    """How ATC's gears could replace the buckets with one model, or ''."""
    shapes = [tuple(b["shapes"].values()) for b in buckets]
    if len({len(s) for s in shapes}) != 1 or len(shapes[0]) != 1:
        return ""
    dims = [s[0] for s in shapes]
    if len({len(d) for d in dims}) != 1:
        return ""
    varying = {i for i in range(len(dims[0])) if len({d[i] for d in dims}) > 1}
    if varying == {0}:
        gears = ",".join(str(d[0]) for d in dims)
        return (f"the buckets differ only in batch: one model with ATC gears serves them all "
                f"(nnport fix MODEL --batch-gears {gears}, --dynamic_batch_size)")  # fmt: skip
    if varying and varying <= {2, 3} and len(dims[0]) == 4:
        gears = ",".join(f"{d[2]}x{d[3]}" for d in dims)
        return (f"the buckets differ only in image size: one model with ATC gears serves them "
                f"all (nnport fix MODEL --image-gears {gears}, --dynamic_image_size)")  # fmt: skip
    return ""


def port_buckets(manifest: Path, output: Path, json_out: bool,
                 port_one: Callable[[Path, Path], None]) -> int:  # fmt: skip
    """Port each bucket into OUTPUT/<bucket file stem>/ with ``port_one``; exit 0 when all are."""
    buckets = read_manifest(manifest)
    rows = []
    with contextlib.ExitStack() as stack:
        if json_out:
            stack.enter_context(console.capture())  # one JSON document for the whole manifest
        for bucket in buckets:
            model = manifest.parent / bucket["file"]
            folder = output / Path(bucket["file"]).stem
            if not json_out:
                console.print(f"[bold]bucket {bucket['file']}[/] -> {folder}")
            try:
                port_one(model, folder)
                code = 0
            except typer.Exit as done:
                code = int(done.exit_code or 0)
            rows.append({"file": bucket["file"], "shapes": bucket["shapes"], "exit_code": code,
                         "report": str(folder / "report.json")})  # fmt: skip
    note = gears_note(buckets)
    if json_out:
        emit_json({"manifest": str(manifest), "buckets": rows, "gears_note": note})
    else:
        ready = sum(r["exit_code"] == 0 for r in rows)
        console.print(f"{ready} of {len(rows)} bucket(s) ready")
        if note:
            console.print(note)
    return 0 if all(r["exit_code"] == 0 for r in rows) else 1
