"""Device-side preprocessing from a PreprocessSpec: Ascend's static AIPP file (ATC
--insert_op_conf) and the NNIE mapper's image lines, with the AIPP arithmetic in numpy."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnport.errors import UsageError
from nnport.model.preprocess import PreprocessSpec


@dataclass(frozen=True)
class AippConfig:
    """A static AIPP: a ``src_w`` x ``src_h`` uint8 RGB888 image in, optionally R/B swapped,
    ``out = (pixel - mean_chn - min_chn) * var_reci_chn`` per channel, then padded with
    ``padding_value`` to the model's input size (CANN's order: swap, crop, CSC, normalize, pad)."""

    src_w: int
    src_h: int
    swap_rb: bool
    mean_chn: tuple[int, int, int]
    min_chn: tuple[float, float, float]
    var_reci_chn: tuple[float, float, float]
    left: int = 0
    right: int = 0
    top: int = 0
    bottom: int = 0
    padding_value: float = 0.0
    notes: tuple[str, ...] = ()

    def text(self) -> str:
        """The ``aipp_op { ... }`` prototxt ATC reads."""
        lines = ["# written by nnport from the model's preprocessing spec"]
        lines += [f"# {note}" for note in self.notes]
        lines += [
            "aipp_op {",
            "    aipp_mode: static",
            "    related_input_rank: 0",
            "    input_format: RGB888_U8",
            f"    src_image_size_w: {self.src_w}",
            f"    src_image_size_h: {self.src_h}",
            "    csc_switch: false",
            f"    rbuv_swap_switch: {'true' if self.swap_rb else 'false'}",
        ]
        for i in range(3):
            lines.append(f"    mean_chn_{i}: {self.mean_chn[i]}")
        for i in range(3):
            lines.append(f"    min_chn_{i}: {_f(self.min_chn[i])}")
        for i in range(3):
            lines.append(f"    var_reci_chn_{i}: {_f(self.var_reci_chn[i])}")
        if self.left or self.right or self.top or self.bottom:
            lines += [
                "    padding: true",
                f"    left_padding_size: {self.left}",
                f"    right_padding_size: {self.right}",
                f"    top_padding_size: {self.top}",
                f"    bottom_padding_size: {self.bottom}",
                f"    padding_value: {_f(self.padding_value)}",
            ]
        lines.append("}")
        return "\n".join(lines) + "\n"

    def run(self, image: np.ndarray) -> np.ndarray:
        """What the device computes on ``image`` (uint8 HWC, ``src_h`` x ``src_w``, RGB as fed):
        float32 NCHW with batch 1, for checking the arithmetic against the spec."""
        if image.shape[:2] != (self.src_h, self.src_w):
            raise UsageError(f"AIPP takes {self.src_h}x{self.src_w} images, got {image.shape[:2]}")
        pixels = image.astype(np.float32)
        if self.swap_rb:
            pixels = pixels[:, :, ::-1]
        mean = np.array(self.mean_chn, np.float32) + np.array(self.min_chn, np.float32)
        out = (pixels - mean) * np.array(self.var_reci_chn, np.float32)
        out = np.pad(
            out,
            ((self.top, self.bottom), (self.left, self.right), (0, 0)),
            constant_values=self.padding_value,
        )
        return np.ascontiguousarray(out.transpose(2, 0, 1))[None]


def _f(value: float) -> str:
    return f"{value:.9g}"


def _per_channel(values: tuple[float, ...]) -> tuple[float, float, float]:
    return (values[0],) * 3 if len(values) == 1 else (values[0], values[1], values[2])


def aipp_config(
    spec: PreprocessSpec,
    input_hw: tuple[int, int],
    *,
    source_order: str = "rgb",
    source_hw: tuple[int, int] | None = None,
) -> AippConfig:
    """The AIPP that turns a uint8 image (``source_order``, ``source_hw``; default: the spec's
    letterbox content of a square image) into what ``spec`` feeds a model of ``input_hw``.

    AIPP does not resize: the application hands it the image already resized to the content
    size; AIPP swaps channels, normalizes and pads. ``mean_chn`` holds the integer part of
    ``mean / scale`` and ``min_chn`` the rest, ``var_reci_chn = scale / std``.
    """
    if spec.dtype == "uint8":
        raise UsageError("the model takes uint8 input: AIPP normalization does not apply")
    height, width = input_hw
    notes: list[str] = []
    if source_hw is None:
        content_h, content_w = height, width
        if spec.resize == "letterbox":
            geo = spec.geometry(height, width)
            content_h, content_w = geo.content_h, geo.content_w
    else:
        geo = spec.geometry(*source_hw)
        content_h, content_w = (
            (geo.content_h, geo.content_w) if spec.resize != "none" else source_hw
        )
        if (content_h, content_w) != tuple(source_hw):
            notes.append(
                f"resize the {source_hw[1]}x{source_hw[0]} image to {content_w}x{content_h} "
                "before AIPP (AIPP does not resize)"
            )
    top = (height - content_h) // 2
    left = (width - content_w) // 2
    bottom, right = height - content_h - top, width - content_w - left
    if min(top, left, bottom, right) < 0:
        raise UsageError(f"the image ({content_w}x{content_h}) is larger than the model input")
    mean = _per_channel(tuple(m / spec.scale for m in spec.mean))
    var = _per_channel(tuple(spec.scale / s for s in spec.std))
    mean_int = tuple(math.floor(m) for m in mean)
    if any(not 0 <= m <= 255 for m in mean_int):
        raise UsageError(f"AIPP mean_chn must lie in 0..255; the spec gives {mean}")
    min_chn = tuple(m - i for m, i in zip(mean, mean_int, strict=True))
    pads = {
        (spec.pad * spec.scale - m) / s
        for m, s in zip(_per_channel(spec.mean), _per_channel(spec.std), strict=True)
    }
    padding_value = sorted(pads)[0]
    if len(pads) > 1:
        notes.append(
            "AIPP pads every channel with one value; the spec's pad differs per channel "
            f"after normalization ({sorted(pads)}), channel 0's is used"
        )
    swap = source_order.lower() != spec.channels
    return AippConfig(
        src_w=content_w,
        src_h=content_h,
        swap_rb=swap,
        mean_chn=(mean_int[0], mean_int[1], mean_int[2]),
        min_chn=(min_chn[0], min_chn[1], min_chn[2]),
        var_reci_chn=var,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        padding_value=padding_value,
        notes=tuple(notes),
    )


def nnie_lines(spec: PreprocessSpec, *, source_order: str = "rgb") -> tuple[str, list[str]]:
    """The nnie_mapper .cfg lines for image input (``[RGB_order]``, ``[norm_type]``,
    ``[data_scale]``, ``[mean_file]``) and the mean file's content (one mean per channel line).

    NNIE computes ``(pixel - mean) * data_scale`` with one scale for every channel; a spec with
    different std per channel gets their mean and a note saying so.
    """
    mean = _per_channel(tuple(m / spec.scale for m in spec.mean))
    scales = _per_channel(tuple(spec.scale / s for s in spec.std))
    scale = float(np.mean(scales))
    order = spec.channels.upper()
    has_mean = any(abs(m) > 0 for m in mean)
    has_scale = abs(scale - 1.0) > 1e-12
    # norm_type: 0 none, 3 data_scale only, 2 channel mean only, 5 channel mean + data_scale
    norm_type = 5 if has_mean and has_scale else 2 if has_mean else 3 if has_scale else 0
    lines = ["[image_type] 1", f"[RGB_order] {order}", f"[norm_type] {norm_type}"]
    if has_scale:
        lines.append(f"[data_scale] {_f(scale)}")
    if has_mean:
        lines.append("[mean_file] mean.txt")
    if max(scales) - min(scales) > 1e-9:
        lines.insert(
            0, f"# per-channel std {spec.std} cannot be expressed: data_scale is their mean"
        )
    if source_order.lower() != spec.channels:
        lines.insert(0, f"# the app's images are {source_order.upper()}; NNIE reorders to {order}")
    return "\n".join(lines) + "\n", [_f(m) for m in mean]


def write_device_configs(
    metadata: dict[str, str] | object,
    input_shape: tuple[object, ...],
    target: str,
    out_stem: str | Path,
    *,
    source_order: str = "rgb",
) -> tuple[str, ...]:
    """Write the target's preprocessing config beside the model: ``OUT.aipp.cfg`` for Ascend
    targets (ATC ``--insert_op_conf``), ``OUT.nnie.cfg`` + ``OUT.nnie_mean.txt`` for NNIE.
    Nothing (an empty tuple) when the model records no spec or the target takes neither."""
    from nnport.model.io import atomic_path

    props = metadata if isinstance(metadata, dict) else dict(metadata)  # type: ignore[call-overload]
    spec = PreprocessSpec.from_metadata(props)
    kind = "aipp" if target.startswith("ascend") else "nnie" if target.startswith("nnie") else ""
    if spec is None or not kind or spec.dtype == "uint8":
        return ()
    dims = [d for d in input_shape if isinstance(d, int)]
    if len(input_shape) != 4 or len(dims) != 4:
        if spec.size is None:
            return ()
        height, width = spec.size
    else:
        height, width = (dims[2], dims[3]) if spec.layout == "nchw" else (dims[1], dims[2])
    written: list[str] = []
    stem = Path(out_stem)
    if kind == "aipp":
        path = stem.with_name(stem.name + ".aipp.cfg")
        with atomic_path(path) as tmp:
            Path(tmp).write_text(
                aipp_config(spec, (height, width), source_order=source_order).text()
            )
        written.append(str(path))
    else:
        cfg, mean = nnie_lines(spec, source_order=source_order)
        mean_path = stem.with_name(stem.name + ".nnie_mean.txt")
        cfg = cfg.replace("[mean_file] mean.txt", f"[mean_file] {mean_path.name}")
        path = stem.with_name(stem.name + ".nnie.cfg")
        with atomic_path(path) as tmp:
            Path(tmp).write_text(cfg)
        written.append(str(path))
        if "[mean_file]" in cfg:
            with atomic_path(mean_path) as tmp:
                Path(tmp).write_text("\n".join(mean) + "\n")
            written.append(str(mean_path))
    return tuple(written)
