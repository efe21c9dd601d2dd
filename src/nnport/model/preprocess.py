"""The one preprocessing spec (resize/letterbox, channel order, scale, mean/std, layout, dtype):
parsed, formatted, applied to an image in numpy, and kept in a model's metadata_props."""

from __future__ import annotations

import json
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from nnport.errors import UsageError

META_KEY = "nnport.preprocess"
RESIZE_MODES = ("letterbox", "stretch", "none")
DTYPES = ("float32", "float16", "uint8")


@dataclass(frozen=True)
class Geometry:
    """Where the source image landed in the model input: ``input = source * ratio + pad``."""

    ratio_x: float
    ratio_y: float
    pad_x: float
    pad_y: float
    content_w: int
    content_h: int

    def to_source(self, boxes: np.ndarray) -> np.ndarray:
        """xyxy boxes in model-input pixels back to source-image pixels."""
        out = np.asarray(boxes, np.float32).copy()
        out[..., [0, 2]] = (out[..., [0, 2]] - self.pad_x) / self.ratio_x
        out[..., [1, 3]] = (out[..., [1, 3]] - self.pad_y) / self.ratio_y
        return out


@dataclass(frozen=True)
class PreprocessSpec:
    """``y = (x * scale - mean) / std`` per channel of an RGB or BGR image, resized to ``size``
    (H, W) by letterbox (aspect kept, ``pad`` around) or stretch, laid out NCHW or NHWC.

    ``mean`` and ``std`` hold one value (every channel) or three (in the model's channel order).
    """

    channels: str = "rgb"
    resize: str = "none"
    size: tuple[int, int] | None = None
    pad: float = 114.0
    scale: float = 1.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    layout: str = "nchw"
    dtype: str = "float32"

    # ---- text form -------------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str) -> PreprocessSpec:
        """``"rgb,letterbox=160,pad=114,scale=1/255,mean=0,std=1,nchw"`` (order free; unnamed
        parts default: no resize, scale 1, mean 0, std 1, RGB, NCHW, float32)."""
        spec = cls()
        if not text.strip():
            raise UsageError("--preprocess is empty", hint='e.g. "rgb,letterbox=160,scale=1/255"')
        for raw in text.split(","):
            part = raw.strip().lower()
            key, _, value = part.partition("=")
            try:
                spec = _apply_part(spec, key, value)
            except (ValueError, ZeroDivisionError) as exc:
                raise UsageError(
                    f"--preprocess: cannot read {raw.strip()!r}: {exc}",
                    hint='e.g. "rgb,letterbox=160,pad=114,scale=1/255,mean=0,std=1,nchw"',
                ) from exc
        if spec.resize != "none" and spec.size is None:
            raise UsageError(f"--preprocess: {spec.resize} needs a size, e.g. {spec.resize}=160")
        for name, values in (("mean", spec.mean), ("std", spec.std)):
            if len(values) not in (1, 3):
                raise UsageError(f"--preprocess: {name} takes 1 or 3 values, got {len(values)}")
        if any(s == 0 for s in spec.std):
            raise UsageError("--preprocess: std cannot be 0")
        return spec

    def format(self) -> str:
        """The text form, which ``parse`` reads back to an equal spec."""
        parts = [self.channels]
        if self.resize != "none" and self.size is not None:
            h, w = self.size
            parts.append(f"{self.resize}={h}" if h == w else f"{self.resize}={h}x{w}")
            if self.resize == "letterbox":
                parts.append(f"pad={_num(self.pad)}")
        parts.append(f"scale={_scale_text(self.scale)}")
        parts.append("mean=" + ":".join(_num(v) for v in self.mean))
        parts.append("std=" + ":".join(_num(v) for v in self.std))
        parts.extend([self.layout, self.dtype])
        return ",".join(parts)

    # ---- metadata --------------------------------------------------------------------------
    def to_metadata(self, props: MutableMapping[str, str]) -> None:
        """Record the spec in ONNX ``metadata_props``."""
        props[META_KEY] = self.format()

    @classmethod
    def from_metadata(cls, props: Mapping[str, str]) -> PreprocessSpec | None:
        """The spec recorded by ``export`` (or built from the older nnport.scale/mean/std keys)."""
        if META_KEY in props:
            return cls.parse(props[META_KEY])
        if "nnport.scale" not in props:
            return None
        try:
            scale = float(json.loads(props["nnport.scale"]))
            mean = tuple(float(v) for v in json.loads(props.get("nnport.mean", "[0]")))
            std = tuple(float(v) for v in json.loads(props.get("nnport.std", "[1]")))
            layout = props.get("nnport.layout", "NCHW").lower()
        except (ValueError, TypeError):
            return None
        return cls(scale=scale, mean=mean or (0.0,), std=std or (1.0,), layout=layout)

    # ---- numpy ----------------------------------------------------------------------------
    def geometry(self, height: int, width: int) -> Geometry:
        """How an image of ``height`` x ``width`` maps into the model input."""
        if self.resize == "none" or self.size is None:
            return Geometry(1.0, 1.0, 0.0, 0.0, width, height)
        out_h, out_w = self.size
        if self.resize == "stretch":
            return Geometry(out_w / width, out_h / height, 0.0, 0.0, out_w, out_h)
        ratio = min(out_h / height, out_w / width)
        new_w, new_h = round(width * ratio), round(height * ratio)
        pad_x, pad_y = (out_w - new_w) // 2, (out_h - new_h) // 2
        return Geometry(new_w / width, new_h / height, float(pad_x), float(pad_y), new_w, new_h)

    def apply(self, image: np.ndarray) -> tuple[np.ndarray, Geometry]:
        """One uint8 HWC RGB image to a model input with batch axis 1, and its geometry."""
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3:
            raise UsageError(f"expected an HxWx3 RGB image, got shape {image.shape}")
        geo = self.geometry(image.shape[0], image.shape[1])
        pixels = image.astype(np.float32)
        if self.resize != "none" and self.size is not None:
            resized = resize_bilinear(pixels, geo.content_h, geo.content_w)
            out_h, out_w = self.size
            pixels = np.full((out_h, out_w, 3), self.pad, dtype=np.float32)
            top, left = int(geo.pad_y), int(geo.pad_x)
            pixels[top : top + geo.content_h, left : left + geo.content_w] = resized
        if self.channels == "bgr":
            pixels = pixels[:, :, ::-1]
        return self.normalize(pixels)[None], geo

    def normalize(self, pixels: np.ndarray) -> np.ndarray:
        """HWC pixels already in the model's channel order: scale, mean/std, layout, dtype."""
        mean = np.asarray(self.mean, np.float32)
        std = np.asarray(self.std, np.float32)
        if self.dtype == "uint8":
            out = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
        else:
            out = ((pixels * np.float32(self.scale) - mean) / std).astype(self.dtype)
        return np.ascontiguousarray(out.transpose(2, 0, 1) if self.layout == "nchw" else out)

    def input_shape(self) -> tuple[int, ...] | None:
        """The model input shape this spec produces (batch 1), when it has a size."""
        if self.size is None:
            return None
        h, w = self.size
        return (1, 3, h, w) if self.layout == "nchw" else (1, h, w, 3)

    def with_size(self, height: int, width: int) -> PreprocessSpec:
        """The same spec with its resize target set (letterbox when it had none)."""
        return replace(self, size=(height, width), resize=self.resize if self.resize != "none"
                       else "letterbox")  # fmt: skip


def _apply_part(spec: PreprocessSpec, key: str, value: str) -> PreprocessSpec:
    if key in ("rgb", "bgr") and not value:
        return replace(spec, channels=key)
    if key in ("nchw", "nhwc") and not value:
        return replace(spec, layout=key)
    if key in DTYPES and not value:
        return replace(spec, dtype=key)
    if key in ("letterbox", "stretch", "resize"):
        mode = "letterbox" if key == "resize" else key
        return replace(spec, resize=mode, size=_size(value))
    if key == "noresize" or (key == "resize" and value == "none"):
        return replace(spec, resize="none", size=None)
    if key == "pad":
        return replace(spec, pad=float(value))
    if key == "scale":
        return replace(spec, scale=float(Fraction(value)))
    if key in ("mean", "std"):
        values = tuple(float(Fraction(v)) for v in value.split(":"))
        return replace(spec, mean=values) if key == "mean" else replace(spec, std=values)
    if key == "layout" and value in ("nchw", "nhwc"):
        return replace(spec, layout=value)
    if key == "dtype" and value in DTYPES:
        return replace(spec, dtype=value)
    raise ValueError(
        "unknown part; known: rgb|bgr, letterbox=N|stretch=HxW, pad=, scale=, mean=, std= "
        "(one value or a:b:c), nchw|nhwc, float32|float16|uint8"
    )


def _size(value: str) -> tuple[int, int]:
    h, _, w = value.partition("x")
    size = (int(h), int(w or h))
    if min(size) < 1:
        raise ValueError("size must be positive")
    return size


def _num(value: float) -> str:
    return f"{value:g}" if abs(value - round(value, 6)) < 1e-12 else repr(value)


def _scale_text(scale: float) -> str:
    if scale > 0 and abs(1 / scale - round(1 / scale)) < 1e-9 and round(1 / scale) != 1:
        return f"1/{round(1 / scale)}"
    return _num(scale)


def resize_bilinear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """HWC float image resized with half-pixel-centre bilinear sampling (no anti-aliasing)."""
    in_h, in_w = image.shape[:2]
    if (in_h, in_w) == (height, width):
        return image.astype(np.float32)

    def axis(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (pos - lo).astype(np.float32)

    y0, y1, ty = axis(height, in_h)
    x0, x1, tx = axis(width, in_w)
    img = image.astype(np.float32)
    top = img[y0][:, x0] * (1 - tx)[None, :, None] + img[y0][:, x1] * tx[None, :, None]
    bottom = img[y1][:, x0] * (1 - tx)[None, :, None] + img[y1][:, x1] * tx[None, :, None]
    return np.asarray(top * (1 - ty)[:, None, None] + bottom * ty[:, None, None], np.float32)
