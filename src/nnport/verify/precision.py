"""A runner for a model in a precision (native, or emulated: fp16/bf16 rounding, int8 QDQ) and
the calibration samples int8 needs (MNIST, an image folder, an .npz, or generated inputs)."""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx_ir as ir

from nnport.backends import make_runner
from nnport.backends.base import Runner
from nnport.backends.onnxruntime import OnnxRuntimeRunner
from nnport.errors import DatasetError, UsageError
from nnport.precision.emulate import EmulatedRunner
from nnport.precision.int8 import DEFAULT_CALIBRATION_SAMPLES, Int8Options, quantize_int8
from nnport.precision.native import PrecisionPlan
from nnport.verify.inputs import generate_inputs, load_npz

logger = logging.getLogger(__name__)

Feed = dict[str, np.ndarray]
MNIST_NORMALIZATION = ((0.1307,), (0.3081,))
IMAGENET_NORMALIZATION = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


@dataclass(frozen=True)
class Calibration:
    """Where int8's calibration samples come from: ``mnist:DIR``, ``imagefolder:DIR`` (or a
    folder), an ``.npz`` of inputs, or None for generated inputs; how many, and the seed."""

    source: str | None = None
    samples: int = DEFAULT_CALIBRATION_SAMPLES
    seed: int = 0
    calibrator: str = "minmax"

    def int8_options(self) -> Int8Options:
        """The quantizer options this calibration asks for."""
        return Int8Options(calibrator=self.calibrator)


def _image_input(model: ir.Model) -> tuple[str, tuple[int | None, ...]]:
    inputs = [v for v in model.graph.inputs if v.name not in model.graph.initializers]
    if len(inputs) != 1 or inputs[0].shape is None or len(inputs[0].shape) != 4:
        raise UsageError("calibrating on images needs a model with one NCHW image input")
    return inputs[0].name or "input", tuple(
        d if isinstance(d, int) else None for d in inputs[0].shape
    )


def _normalization(
    model: ir.Model, default: tuple[tuple[float, ...], tuple[float, ...]]
) -> tuple[np.ndarray, np.ndarray]:
    found = []
    for key, fallback in zip(("mean", "std"), default, strict=True):
        text = model.metadata_props.get(f"nnport.{key}")
        values = tuple(float(v) for v in json.loads(text)) if text else fallback
        found.append(np.asarray(values, np.float32).reshape(1, -1, 1, 1))
    return found[0], found[1]


def _image_feeds(model: ir.Model, images: np.ndarray, mnist: bool) -> list[Feed]:
    name, dims = _image_input(model)
    mean, std = _normalization(model, MNIST_NORMALIZATION if mnist else IMAGENET_NORMALIZATION)
    x = (images.astype(np.float32) / np.float32(255.0) - mean) / std
    batch = dims[0] if isinstance(dims[0], int) else 1
    count = len(x) - len(x) % batch
    return [{name: x[i : i + batch]} for i in range(0, count, batch)]


def calibration_feeds(
    model: ir.Model,
    calibration: Calibration,
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
) -> tuple[list[Feed], str]:
    """The calibration samples (seeded choice of ``calibration.samples``) and their description."""
    if calibration.samples < 1:
        raise UsageError("--calibration-samples must be at least 1")
    source = calibration.source
    rng = np.random.default_rng(calibration.seed)
    if source is None:
        feeds = generate_inputs(
            model, input_shapes, samples=calibration.samples, seed=calibration.seed + 1
        )
        return feeds, f"{len(feeds)} generated samples (give --calibrate DATA for real ranges)"
    kind, sep, rest = source.partition(":")
    if source.endswith(".npz"):
        feeds = load_npz(source, model)
        if len(feeds) > calibration.samples:
            feeds = [
                feeds[i] for i in sorted(rng.choice(len(feeds), calibration.samples, replace=False))
            ]
        return feeds, f"{len(feeds)} samples of {source}"
    if sep and kind == "mnist":
        from nnport.data.idx import load_mnist

        split = load_mnist(rest, "train")
        pick = np.sort(
            rng.choice(
                len(split.labels), min(calibration.samples, len(split.labels)), replace=False
            )
        )
        feeds = _image_feeds(model, split.images[pick][:, None], mnist=True)
        return feeds, f"{len(pick)} MNIST training images of {rest} (seed {calibration.seed})"
    folder_path = rest if sep and kind == "imagefolder" else source
    if not Path(folder_path).is_dir():
        raise UsageError(
            f"--calibrate {source!r} is not mnist:DIR, imagefolder:DIR, a folder or an .npz file"
        )
    from nnport.data.imagefolder import ImageFolder, load_images, scan_image_folder

    folder = scan_image_folder(folder_path)
    _, dims = _image_input(model)
    size = dims[2]
    if size is None:
        shape_text = model.metadata_props.get("nnport.input_shape")
        size = int(json.loads(shape_text)[2]) if shape_text else None
    if size is None:
        raise UsageError("the model's input size is dynamic; export it with a static H and W")
    count = min(calibration.samples, len(folder.samples))
    chosen = sorted(rng.choice(len(folder.samples), count, replace=False))
    subset = ImageFolder(folder.root, folder.classes, tuple(folder.samples[i] for i in chosen))
    images, _ = load_images(subset, size)
    if not len(images):
        raise DatasetError(f"{folder_path} holds no images")
    return _image_feeds(model, images, mnist=False), f"{count} images of {folder_path}"


def open_precision_runner(
    plan: PrecisionPlan,
    model: ir.Model,
    *,
    calibration: list[Feed] | None = None,
    int8: Int8Options | None = None,
    keep: Collection[str] = (),
    options: Mapping[str, Any] | None = None,
) -> Runner:
    """The runner that computes ``model`` as ``plan`` says: the native runtime with its
    precision options, or ONNX Runtime (optimizations off) on the emulated model."""
    extra = dict(options or {})
    threads = extra.get("threads")
    if not plan.emulated:
        return make_runner(plan.backend, model, **{**extra, **plan.options})
    if plan.precision == "int8":
        if not calibration:
            raise UsageError("int8 emulation needs calibration samples")
        quantized = quantize_int8(model, calibration, int8)
        return OnnxRuntimeRunner(quantized, threads=threads, optimization="disable")
    return EmulatedRunner(model, plan.precision, keep=keep, threads=threads)


def emulated_model(
    plan: PrecisionPlan,
    model: ir.Model,
    *,
    calibration: list[Feed] | None = None,
    int8: Int8Options | None = None,
    keep: Collection[str] = (),
) -> ir.Model:
    """The model an emulated ``plan`` runs (for bisect, which fetches its tensors by name)."""
    from nnport.precision.emulate import emulate

    if plan.precision == "int8":
        return quantize_int8(model, calibration or [], int8)
    return emulate(model, plan.precision, keep)
