"""Helpers shared by the CLI verbs: consoles, logging, JSON output, output paths, options."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from nnport.errors import ModelLoadError, ModelSaveError, UsageError
from nnport.results import dumps

if TYPE_CHECKING:  # onnx-ir loads on first use: `nnport --help` stays fast
    import onnx_ir as ir

    from nnport.model.specs import InputSpec

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

MODEL_ARG = typer.Argument(..., help="Path to an ONNX model.", show_default=False)
JSON_OPT = typer.Option(False, "--json", help="Print the result as JSON on stdout.")
TARGET_OPT = typer.Option(
    ...,
    "--target",
    "-t",
    help="Target profile: a shipped name (see `nnport targets`) or a profile .toml path.",
    show_default=False,
)
INPUT_SHAPE_OPT = typer.Option(
    None,
    "--input-shape",
    "-s",
    help="Input shape NAME:1x3x224x224 (or NAME:1,3,224,224); repeat for several inputs.",
    show_default=False,
)


# Native runtimes (ONNX Runtime's logger, the ncnn worker) print on fd 2 themselves; they read
# this variable ("1": let them, else keep them quiet) so that without --verbose stderr holds
# nnport's own line only. Worker processes inherit it.
NATIVE_LOGS_ENV = "NNPORT_NATIVE_LOGS"
_LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


class _StderrHandler(logging.Handler):
    """Writes records to whatever ``sys.stderr`` is when they arrive (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # a closed or unencodable stream must not break the run
            self.handleError(record)


def _own_record(record: logging.LogRecord) -> bool:
    return record.name == "nnport" or record.name.startswith("nnport.")


def configure_logging(*, debug: bool, verbose: bool) -> None:
    """Logs to stderr: nnport's warnings by default; every library's at --verbose (INFO) and
    --debug (DEBUG), native runtime logs included. Safe to call once per in-process run."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    if not (debug or verbose):  # onnx-ir's and others' warnings are not the user's business
        handler.addFilter(_own_record)
    root.addHandler(handler)
    logging.captureWarnings(True)  # numpy's and others' warnings: a log record, shown as above
    root.setLevel(logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING)
    os.environ[NATIVE_LOGS_ENV] = "1" if debug or verbose else "0"


def _writable_folder(folder: Path, output: Path) -> None:
    """Refuse (exit 2) unless ``folder``, or the nearest folder above it that exists, takes new
    files: a file where a folder belongs, a missing parent, a read-only or pseudo file system."""
    probe = folder
    while not probe.exists() and not probe.is_symlink() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        raise ModelSaveError(f"cannot write {output}: {probe} is a file, not a folder")
    try:  # os.access is not enough: root passes it on read-only mounts and /proc
        fd, name = tempfile.mkstemp(prefix=".nnport-probe-", dir=probe)
    except OSError as exc:
        raise ModelSaveError(
            f"cannot write {output}: {probe} does not accept new files ({exc.strerror})"
        ) from exc
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)


def output_file(path: Path) -> Path:
    """An ``-o FILE`` checked before any work: not a folder, in a folder that exists and that
    takes new files."""
    path = path.expanduser()
    if path.is_dir():
        raise ModelSaveError(
            f"-o {path} is a folder; give a file name (e.g. {path / 'model.onnx'})"
        )
    if not path.parent.is_dir():
        if path.parent.exists():
            raise ModelSaveError(f"cannot write {path}: {path.parent} is a file, not a folder")
        raise ModelSaveError(
            f"cannot write {path}: no folder {path.parent}", hint="create it first"
        )
    _writable_folder(path.parent, path)
    return path


def output_folder(path: Path) -> Path:
    """An ``-o FOLDER`` checked before any work: a folder (or nothing yet) under a folder that
    takes new files."""
    path = path.expanduser()
    if path.exists() and not path.is_dir():
        raise ModelSaveError(f"-o {path} exists and is not a folder; give a folder to write into")
    _writable_folder(path, path)
    return path


def refuse_unknown_opset(model: ir.Model, path: Path) -> None:
    """Exit 2 for a model importing an ai.onnx opset newer than the installed onnx knows:
    no rule, rewrite or converter can say what its ops mean, and relabelling it would lie."""
    import onnx

    version = model.opset_imports.get("", model.opset_imports.get("ai.onnx", 0))
    newest = onnx.defs.onnx_opset_version()
    if version > newest:
        raise ModelLoadError(
            f"{path} imports ai.onnx opset {version}, newer than the newest opset the "
            f"installed onnx {onnx.__version__} knows ({newest})",
            hint="re-export it at a released opset, or upgrade onnx if this one is new",
        )


def input_specs(values: list[str] | None) -> list[InputSpec]:
    """Parse the repeated ``--input-shape`` option."""
    from nnport.model.specs import parse_input_shapes

    return parse_input_shapes(values or [])


def split_names(values: str | list[str] | None) -> tuple[str, ...]:
    """Names from ``a,b,c`` (or from a repeated option of such lists), blanks dropped."""
    items = [values] if isinstance(values, str) else values or []
    return tuple(n.strip() for item in items for n in item.split(",") if n.strip())


def emit_json(result: Any) -> None:
    """Write a result as JSON to stdout (nothing else goes to stdout in --json mode)."""
    sys.stdout.write(dumps(result) + "\n")
    sys.stdout.flush()


def path_arg(value: Path) -> Path:
    """Normalise a path argument."""
    return value.expanduser()


BATCH_GEARS_OPT = typer.Option(
    None,
    "--batch-gears",
    help="Keep the batch dim dynamic for ATC gears, e.g. 1,2,4,8 (verified and checked at "
    "each size; atc gets --dynamic_batch_size).",
    show_default=False,
)
IMAGE_GEARS_OPT = typer.Option(
    None,
    "--image-gears",
    help="Keep H and W of 4-D inputs dynamic for ATC gears, e.g. 224x224,320x320 (verified "
    "and checked at each size; atc gets --dynamic_image_size).",
    show_default=False,
)


def parse_batch_gears(text: str | None) -> tuple[int, ...]:
    """``1,4,8`` -> (1, 4, 8): ATC batch gears (at least two different sizes, each >= 1)."""
    if not text:
        return ()
    try:
        gears = tuple(int(g) for g in text.split(","))
    except ValueError as exc:
        raise UsageError(f"--batch-gears {text!r} is not a comma-separated list of sizes") from exc
    if any(g <= 0 for g in gears):
        raise UsageError("--batch-gears sizes must be >= 1")
    if len(set(gears)) < 2:
        raise UsageError("--batch-gears needs at least 2 different sizes (ATC's rule)")
    return gears


def parse_image_gears(text: str | None) -> tuple[tuple[int, int], ...]:
    """``224x224,320x320`` -> ((224, 224), (320, 320)): ATC image gears (H, W pairs)."""
    if not text:
        return ()
    try:
        gears = tuple((int(h), int(w)) for h, w in (g.lower().split("x") for g in text.split(",")))
    except ValueError as exc:
        raise UsageError(f"--image-gears {text!r} is not a list like 224x224,320x320") from exc
    if any(h <= 0 or w <= 0 for h, w in gears):
        raise UsageError("--image-gears sizes must be >= 1")
    if len(set(gears)) < 2:
        raise UsageError("--image-gears needs at least 2 different sizes (ATC's rule)")
    return gears


def parse_gears(
    batch: str | None, image: str | None
) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...]]:
    """Both gear options parsed; ATC takes batch gears or image gears, never both."""
    if batch and image:
        raise UsageError("--batch-gears and --image-gears cannot be combined (ATC takes one)")
    return parse_batch_gears(batch), parse_image_gears(image)
