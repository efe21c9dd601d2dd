"""Convert an ONNX model to a runtime artifact (OpenVINO IR, ncnn param/bin, Caffe) and describe it."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import onnx_ir as ir

from nnport.backends.artifacts import dir_size
from nnport.backends.caffe.convert import LayerMap
from nnport.errors import UsageError
from nnport.model.io import SOURCE_PATH_KEY, check_output_path, read_files

CONVERTERS = ("openvino", "ncnn", "caffe")
# The files each converter writes into its output folder (none may be a file the input reads).
ARTIFACT_FILES = {
    "openvino": ("model.xml", "model.bin"),
    "ncnn": ("model.ncnn.param", "model.ncnn.bin", "model.nnport.json"),
    "caffe": ("model.prototxt", "model.caffemodel", "nnie_mapper.cfg", "image_list.txt",
              "mean.txt"),
}  # fmt: skip


@dataclass(frozen=True)
class ConvertResult:
    """What ``convert`` wrote: the artifact's main file, every file with its size, and timing."""

    model: str
    to: str
    artifact: str
    files: tuple[str, ...]
    size_bytes: int
    seconds: float
    input_shapes: dict[str, tuple[int, ...]]
    runtime: str
    # caffe: which ONNX node became which Caffe layers, and what the reader should know.
    layers: tuple[LayerMap, ...] = ()
    notes: tuple[str, ...] = ()


def convert(
    model: ir.Model,
    to: str,
    out_dir: str | Path,
    *,
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
    calibrate: Path | None = None,
) -> ConvertResult:
    """Convert ``model`` for runtime ``to`` into ``out_dir`` (atomically) and time it."""
    out = Path(out_dir)
    shapes = dict(input_shapes or {})
    for name in ARTIFACT_FILES.get(to, ()):  # the input's own files are never overwritten
        check_output_path(out / name, read_files(model))
    start = time.perf_counter()
    layers: tuple[LayerMap, ...] = ()
    notes: tuple[str, ...] = ()
    if to == "openvino":
        from nnport.backends.openvino import convert_to_openvino, import_openvino

        openvino = import_openvino()
        artifact = convert_to_openvino(model, out, input_shapes=shapes or None)
        runtime = f"openvino {openvino.__version__}"
        files = [artifact, artifact.with_suffix(".bin")]
    elif to == "ncnn":
        import ncnn

        from nnport.backends.ncnn import SIDECAR, convert_to_ncnn

        artifact = convert_to_ncnn(model, out, shapes or None)
        runtime = f"ncnn {ncnn.__version__} (pnnx)"
        files = [artifact, artifact.with_suffix(".bin"), out / SIDECAR]
    elif to == "caffe":
        from nnport.backends.caffe.convert import convert_to_caffe

        caffe = convert_to_caffe(model, out, input_shapes=shapes or None, calibrate=calibrate)
        artifact, files = caffe.prototxt, list(caffe.files)
        runtime = "Caffe for nnie_mapper (nnport)"
        layers, notes = caffe.layers, caffe.notes
    else:
        raise UsageError(f"cannot convert to {to!r}", hint=f"choose {' or '.join(CONVERTERS)}")
    seconds = time.perf_counter() - start
    return ConvertResult(
        model=str(model.meta.get(SOURCE_PATH_KEY, "(in memory)")),
        to=to,
        artifact=str(artifact),
        files=tuple(str(f) for f in files),
        size_bytes=sum(dir_size(f) for f in files if f.exists()),
        seconds=seconds,
        input_shapes=shapes,
        runtime=runtime,
        layers=layers,
        notes=notes,
    )
