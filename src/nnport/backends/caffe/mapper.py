"""nnie_mapper.cfg (HiSilicon's NNIE mapper / RuyiStudio) beside the Caffe model, with its
image_list.txt of calibration images and mean.txt, filled from the model's preprocessing."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import onnx_ir as ir

from nnport.errors import UsageError

CFG = "nnie_mapper.cfg"
IMAGE_LIST = "image_list.txt"
MEAN_FILE = "mean.txt"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
COMPILE_MODES = {"int8": 0, "int16": 1}  # 0: low-bandwidth (8-bit), 1: high-precision (16-bit)
MAX_CALIBRATION_IMAGES = 500


@dataclass(frozen=True)
class MapperInput:
    """How the mapper feeds one network input: the cfg's per-input group of lines."""

    name: str
    image_type: int  # 0: feature map, 1: 8-bit image (planar, order per RGB_order)
    norm_type: int  # 0 none, 3 data_scale only, 5 channel mean then data_scale
    data_scale: float
    mean: tuple[float, ...]  # per channel, on the 0..255 pixel scale ([] for none)
    exact: bool  # False: the model's per-channel std only approximated by one data_scale
    order: str = "RGB"  # channel order the model expects (the cfg's RGB_order)


@dataclass(frozen=True)
class MapperConfig:
    """What nnport wrote into nnie_mapper.cfg, and why (notes)."""

    cfg: str
    compile_mode: int
    rgb_order: str
    inputs: tuple[MapperInput, ...]
    calibration_images: int
    notes: tuple[str, ...]


@dataclass(frozen=True)
class _Preprocess:
    """``y = (pixel * scale - mean) / std`` per channel, channel order, and what was read."""

    scale: float
    mean: tuple[float, ...]
    std: tuple[float, ...]
    order: str  # RGB or BGR
    layout: str
    resize: str


def _meta(model: ir.Model, key: str) -> tuple[float, ...] | None:
    text = model.metadata_props.get(f"nnport.{key}")
    if not text:
        return None
    try:
        return tuple(float(v) for v in json.loads(text))
    except (ValueError, TypeError):
        raise UsageError(
            f"model metadata nnport.{key} is not a list of numbers: {text!r}"
        ) from None


def preprocessing(model: ir.Model) -> _Preprocess | None:
    """The model's recorded preprocessing: the one spec (nnport.preprocess) where nnport.model
    has it, else the nnport.mean/std keys (on pixels / 255, as evaluate reads them)."""
    try:
        from nnport.model.preprocess import PreprocessSpec
    except ImportError:  # pragma: no cover - older trees without the spec module
        PreprocessSpec = None  # type: ignore[assignment,misc]
    if PreprocessSpec is not None:
        spec = PreprocessSpec.from_metadata(model.metadata_props)
        if spec is not None:
            return _Preprocess(spec.scale, spec.mean, spec.std, spec.channels.upper(),
                               spec.layout, spec.resize)  # fmt: skip
    mean, std = _meta(model, "mean"), _meta(model, "std")
    if mean is None or std is None:
        return None
    return _Preprocess(1.0 / 255.0, mean, std, "RGB", "nchw", "none")


def _input(name: str, shape: tuple[int, ...], model: ir.Model, notes: list[str]) -> MapperInput:
    channels = shape[1] if len(shape) == 4 else 0
    if channels not in (1, 3) or min(shape[2:] or (0,)) <= 1:
        notes.append(f"input {name!r} {list(shape)} is not an image: image_type 0 (feature map)")
        return MapperInput(name, 0, 0, 1.0, (), True)
    spec = preprocessing(model)
    if spec is None:
        notes.append(
            f"input {name!r}: the model records no preprocessing (nnport.preprocess or "
            "nnport.mean/std metadata), so the mapper feeds raw 0..255 pixels (norm_type 0); "
            "edit norm_type, data_scale and mean_file if the model expects normalized input"
        )
        return MapperInput(name, 1, 0, 1.0, (), True)
    if spec.layout != "nchw":
        notes.append(f"input {name!r} is {spec.layout.upper()}; the mapper feeds NCHW planes")
    if spec.resize != "none":
        notes.append(f"input {name!r}: resize ({spec.resize}) calibration images to "
                     f"{shape[2]}x{shape[3]} as the model's preprocessing does")  # fmt: skip
    # nnport: y = (pixel * scale - mean) / std; NNIE: y = (pixel - mean') * data_scale, so
    # mean' = mean / scale and data_scale = scale / std.
    mean = spec.mean * channels if len(spec.mean) == 1 else spec.mean
    stds = spec.std * channels if len(spec.std) == 1 else spec.std
    means = tuple(round(m / spec.scale, 6) for m in mean)
    average = sum(stds) / len(stds)
    exact = max(stds) - min(stds) <= 1e-6 * average
    if not exact:
        worst = max(abs(s / average - 1.0) for s in stds)
        notes.append(
            f"input {name!r}: std {list(stds)} differs per channel and NNIE has one data_scale; "
            f"it uses their mean, off by up to {100 * worst:.1f}% per channel (fold 1/std into "
            "the first convolution for an exact match)"
        )
    scale = spec.scale / average
    norm_type = (5 if any(means) else 3) if abs(scale - 1.0) > 1e-12 else (2 if any(means) else 0)
    return MapperInput(name, 1, norm_type, scale, means, exact, spec.order)


def calibration_images(folder: Path, limit: int = MAX_CALIBRATION_IMAGES) -> list[Path]:
    """Image files under ``folder`` (sorted, at most ``limit``), for the mapper to quantize on."""
    if not folder.is_dir():
        raise UsageError(f"--calibrate {folder} is not a folder")
    images = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise UsageError(
            f"--calibrate {folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    return [p.resolve() for p in images[:limit]]


def mapper_files(
    model: ir.Model,
    inputs: Mapping[str, tuple[int, ...]],
    *,
    calibrate: Path | None = None,
    precision: str = "int8",
    name: str = "model",
) -> tuple[MapperConfig, dict[str, str]]:
    """The cfg and its companion files (name → text) for ``model`` with static ``inputs``."""
    if precision not in COMPILE_MODES:
        raise UsageError(f"unknown NNIE precision {precision!r}", hint="choose int8 or int16")
    notes: list[str] = []
    groups = tuple(_input(n, s, model, notes) for n, s in inputs.items())
    order = next((g.order for g in groups if g.image_type == 1), "RGB")
    images = calibration_images(calibrate) if calibrate is not None else []
    files: dict[str, str] = {}
    if images:
        files[IMAGE_LIST] = "".join(f"{p}\n" for p in images)
    else:
        notes.append(f"no --calibrate folder: write {IMAGE_LIST} (one image path a line) before "
                     "running nnie_mapper")  # fmt: skip
    means = [g.mean for g in groups if g.mean]
    if len(means) > 1 and len(set(means)) > 1:
        notes.append("inputs differ in their means; mean.txt holds the first one's")
    if means:
        files[MEAN_FILE] = "".join(f"{m:g}\n" for m in means[0])
    mode = COMPILE_MODES[precision]
    lines = [
        "# nnie_mapper configuration written by nnport (docs/caffe.md explains every field).",
        "# Run nnie_mapper (or RuyiStudio) from this folder: paths are relative to it.",
        f"[prototxt_file] ./{name}.prototxt",
        f"[caffemodel_file] ./{name}.caffemodel",
        "[net_type] 0",
        f"[compile_mode] {mode}",
        "[batch_num] 256",
        "[sparse_rate] 0",
        "[internal_stride] 16",
        "[is_simulation] 0",
        "[log_level] 0",
        f"[instruction_name] ./{name}",
        f"[RGB_order] {order}",
    ]
    lines += _input_lines(groups)
    config = MapperConfig(CFG, mode, order, groups, len(images), tuple(notes))
    files[CFG] = "\n".join(lines) + "\n"
    return config, files


def _input_lines(groups: Sequence[MapperInput]) -> list[str]:
    lines = []
    for group in groups:
        lines += [
            f"[image_list] ./{IMAGE_LIST}",
            f"[image_type] {group.image_type}",
            f"[norm_type] {group.norm_type}",
            f"[data_scale] {group.data_scale:.10g}",
            f"[mean_file] {'./' + MEAN_FILE if group.mean else 'null'}",
        ]
    return lines
