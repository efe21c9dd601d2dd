"""Keras and TensorFlow sources: a ``.keras``/``.h5`` file or a SavedModel folder converted with
tf2onnx (NHWC kept, or NCHW inputs on request), verified against the source before it is written."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import onnx_ir as ir

from nnport.errors import BackendUnavailableError, ModelLoadError, ModelSaveError, UsageError
from nnport.recipes.export import ExportedModel, ExportResult
from nnport.recipes.source_export import (
    InputSpec,
    bucket_path,
    native_stderr_quiet,
    parse_input_shapes,
    verify,
    write_all,
)

logger = logging.getLogger(__name__)
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
LAYOUTS = ("nhwc", "nchw")


@dataclass(frozen=True)
class KerasExportOptions:
    """Shapes (one model per entry, several make buckets), layout, opset and tolerances."""

    shapes: tuple[str, ...] = ()
    layout: str = "nhwc"
    opset: int = 17
    rtol: float = 1e-4
    atol: float = 1e-5
    seed: int = 0
    samples: int = 2


def require_tensorflow() -> tuple[ModuleType, ModuleType]:
    """tensorflow and tf2onnx, quiet, or a one-line error naming the extra."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # no native log lines on stderr
    try:
        with native_stderr_quiet():
            import tensorflow as tf
            import tf2onnx
    except ImportError as exc:
        raise BackendUnavailableError(
            "exporting from Keras/TensorFlow needs tensorflow and tf2onnx",
            hint="pip install 'nnport[tensorflow]'",
        ) from exc
    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    return tf, tf2onnx


def is_keras_source(path: Path) -> bool:
    """A Keras file or a SavedModel folder."""
    return (path.is_file() and path.suffix.lower() in KERAS_SUFFIXES) or (
        path.is_dir() and (path / "saved_model.pb").exists()
    )


def load_keras(path: str | Path) -> Any:
    """The source as a callable Keras model (a SavedModel folder through its serving signature)."""
    require_tensorflow()
    path = Path(path)
    try:
        if path.is_dir():
            import keras

            return keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")
        import keras

        return keras.models.load_model(str(path), compile=False)
    except Exception as exc:  # h5py / zip / Keras deserialization errors of a bad file
        first = " ".join(str(exc).split())[:200]
        raise ModelLoadError(f"{path} is not a readable Keras model: {first}") from exc


def _input_names(model: Any) -> list[str]:
    inputs = getattr(model, "inputs", None) or []
    names = [str(getattr(t, "name", f"input_{i}")).split(":")[0] for i, t in enumerate(inputs)]
    if not names:
        raise UsageError("the Keras model declares no inputs", hint="save it with an Input layer")
    return names


def _input_specs(model: Any, shapes: dict[str, tuple[int, ...]] | None) -> list[InputSpec]:
    specs = []
    for name, tensor in zip(_input_names(model), model.inputs, strict=True):
        declared = tuple(tensor.shape)
        shape = (shapes or {}).get(name)
        if shape is None:
            if any(d is None for d in declared[1:]):
                raise UsageError(f"input {name!r} has dynamic dims {declared}: give --shape")
            shape = (1, *[int(d) for d in declared[1:]])
        fixed = [(d, s) for d, s in zip(declared[1:], shape[1:], strict=False) if d is not None]
        if len(shape) != len(declared) or any(int(d) != s for d, s in fixed):
            raise UsageError(
                f"input {name!r} is declared {tuple(declared)}; shape {tuple(shape)} does not fit",
                hint="give a shape the model declares (NHWC for Keras)",
            )
        dtype = str(getattr(tensor, "dtype", "float32")).replace("tf.", "")
        specs.append(InputSpec(name, tuple(int(d) for d in shape), dtype))
    return specs


def _call(model: Any, args: list[Any]) -> Any:
    """Run the source: a Keras model takes one tensor or a list; a SavedModel layer its args."""
    if hasattr(model, "inputs"):
        return model(args if len(args) > 1 else args[0], training=False)
    return model(*args)


def _outputs(result: Any) -> list[np.ndarray]:
    if isinstance(result, dict):
        return [np.asarray(result[k]) for k in sorted(result)]
    if isinstance(result, (list, tuple)):
        return [np.asarray(r) for r in result]
    return [np.asarray(result)]


def _convert(model: Any, specs: Sequence[InputSpec], options: KerasExportOptions) -> ir.Model:
    tf, tf2onnx = require_tensorflow()
    signature = [tf.TensorSpec(s.shape, tf.as_dtype(s.dtype), name=s.name) for s in specs]

    @tf.function(input_signature=signature)
    def call(*args: Any) -> Any:
        return _call(model, list(args))

    nchw = [s.name for s in specs if len(s.shape) == 4] if options.layout == "nchw" else None
    try:
        proto, _ = tf2onnx.convert.from_function(
            call, input_signature=signature, opset=options.opset, inputs_as_nchw=nchw
        )
    except Exception as exc:
        first = " ".join(str(exc).split())[:300]
        raise ModelSaveError(f"tf2onnx could not convert the model: {first}") from exc
    return ir.from_proto(proto)


def export_keras(source: str | Path, out: str | Path, options: KerasExportOptions) -> ExportResult:
    """Convert a Keras/TF source with tf2onnx; check each file against the source on seeded
    inputs; write only when every file matches (several shapes: one file each and buckets.json)."""
    if options.layout not in LAYOUTS:
        raise UsageError(f"--layout {options.layout!r}: choose {' or '.join(LAYOUTS)}")
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise UsageError(f"output {out} should end in .onnx")
    if not out.parent.exists():
        raise ModelSaveError(f"output folder {out.parent} does not exist")
    model = load_keras(source)
    names = _input_names(model)
    shape_sets: list[dict[str, tuple[int, ...]] | None] = [
        parse_input_shapes(text, names) for text in options.shapes
    ] or [None]
    prepared = []
    for shapes in shape_sets:
        specs = _input_specs(model, shapes)
        onnx_model = _convert(model, specs, options)
        onnx_model.metadata_props.update(
            {"nnport.source": str(source), "nnport.layout": options.layout.upper()}
        )
        perms = {s.name: (0, 3, 1, 2) for s in specs if len(s.shape) == 4}

        def to_onnx(feeds: dict[str, np.ndarray], perms: dict = perms) -> dict[str, np.ndarray]:
            if options.layout != "nchw":
                return feeds
            return {k: v.transpose(perms[k]) if k in perms else v for k, v in feeds.items()}

        def forward(feeds: dict[str, np.ndarray], specs: list = specs) -> list[np.ndarray]:
            return _outputs(_call(model, [feeds[s.name] for s in specs]))

        max_abs, max_rel = verify(onnx_model, forward, specs, to_onnx=to_onnx, rtol=options.rtol,
                                  atol=options.atol, samples=options.samples, seed=options.seed)  # fmt: skip
        onnx_shapes = {
            s.name: tuple(to_onnx({s.name: np.zeros(s.shape)})[s.name].shape) for s in specs
        }
        path = bucket_path(out, onnx_shapes, len(shape_sets) > 1)
        first = next(iter(onnx_shapes.values()))
        prepared.append((path, onnx_model, ExportedModel(str(path), first, False, max_abs, max_rel,
                                                         (first[0],)), onnx_shapes))  # fmt: skip
    manifest = write_all(prepared, str(source), (options.rtol, options.atol))
    if manifest:
        logger.info("wrote %s", manifest)
    return ExportResult(str(source), options.opset, options.rtol, options.atol,
                        tuple(p[2] for p in prepared), "keras", manifest)  # fmt: skip
