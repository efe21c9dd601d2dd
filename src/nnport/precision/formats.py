"""Number formats (fp32, fp16, bf16, int8): their limits, parsing, and numpy rounding to them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx_ir as ir

from nnport.errors import UsageError


@dataclass(frozen=True)
class NumberFormat:
    """One number format: the largest finite value, the smallest normal and subnormal values,
    the unit roundoff (half the distance from 1 to the next value) and, for floats, the ONNX
    element type a Cast rounds to."""

    name: str
    kind: str  # "float" or "int"
    max: float
    smallest_normal: float
    smallest_subnormal: float
    unit_roundoff: float
    onnx_type: ir.DataType | None
    aliases: tuple[str, ...] = ()

    @property
    def is_float(self) -> bool:
        """True for the floating formats (fp32, fp16, bf16)."""
        return self.kind == "float"


FORMATS: dict[str, NumberFormat] = {
    "fp32": NumberFormat(
        "fp32",
        "float",
        float(np.finfo(np.float32).max),
        float(np.finfo(np.float32).tiny),
        float(np.finfo(np.float32).smallest_subnormal),
        2.0**-24,
        ir.DataType.FLOAT,
        ("f32", "float32", "float"),
    ),
    "fp16": NumberFormat(
        "fp16",
        "float",
        65504.0,
        2.0**-14,
        2.0**-24,
        2.0**-11,
        ir.DataType.FLOAT16,
        ("f16", "float16", "half"),
    ),
    "bf16": NumberFormat(
        "bf16",
        "float",
        float((2 - 2.0**-7) * 2.0**127),
        float(np.finfo(np.float32).tiny),
        2.0**-133,
        2.0**-8,
        ir.DataType.BFLOAT16,
        ("bfloat16",),
    ),
    # int8: symmetric per-channel weights, per-tensor activations with a calibrated scale;
    # "max" is the largest quantized magnitude, the float range comes from calibration.
    "int8": NumberFormat("int8", "int", 127.0, 1.0, 1.0, 0.5, None, ("i8", "qint8")),
}

PRECISIONS = tuple(FORMATS)

# A model "breaks" in a format when an output's SQNR against fp32 falls below this floor (or
# it gains a NaN or inf). One rounding to fp16 costs about 70 dB and to bf16 about 50 dB;
# a deep network loses some tens of dB on the way; below these floors the outputs are wrong.
DEFAULT_MIN_SQNR_DB = {"fp16": 30.0, "bf16": 20.0, "int8": 15.0}


def get_format(name: str) -> NumberFormat:
    """The format called ``name`` (or one of its aliases: f16, float16, bfloat16, ...)."""
    key = name.strip().lower()
    for fmt in FORMATS.values():
        if key == fmt.name or key in fmt.aliases:
            return fmt
    raise UsageError(f"unknown precision {name!r}", hint=f"choose one of {', '.join(PRECISIONS)}")


def parse_precisions(text: str) -> tuple[str, ...]:
    """``"fp32,fp16,int8"`` to canonical names, in order, without repeats."""
    names: list[str] = []
    for part in text.split(","):
        if not part.strip():
            raise UsageError(f"--precision {text!r} has an empty entry", hint="e.g. fp32,fp16,int8")
        name = get_format(part).name
        if name not in names:
            names.append(name)
    return tuple(names)


def round_bf16(array: np.ndarray) -> np.ndarray:
    """float32 values rounded to bfloat16 (round to nearest, ties to even; overflow to ±inf;
    NaN stays NaN), returned as float32. Integer bit arithmetic, as a bf16 unit rounds."""
    x = np.ascontiguousarray(array, dtype=np.float32)
    bits = x.view(np.uint32)
    bias = np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))
    rounded = ((bits + bias) & np.uint32(0xFFFF0000)).view(np.float32)
    return np.where(np.isnan(x), x, rounded).astype(np.float32, copy=False)


def round_to(array: np.ndarray, fmt: str | NumberFormat) -> np.ndarray:
    """float32 ``array`` rounded to a float format and back to float32 (numpy's float16 for
    fp16: round to nearest even, overflow to ±inf, underflow to zero through subnormals)."""
    spec = fmt if isinstance(fmt, NumberFormat) else get_format(fmt)
    x = np.asarray(array, dtype=np.float32)
    if spec.name == "fp32":
        return x
    if spec.name == "fp16":
        with np.errstate(over="ignore"):
            return x.astype(np.float16).astype(np.float32)
    if spec.name == "bf16":
        return round_bf16(x)
    raise UsageError(f"{spec.name} is not a floating format; it is quantized, not rounded")


def out_of_range(array: np.ndarray, fmt: str | NumberFormat) -> tuple[int, int]:
    """How many finite values of ``array`` overflow the format (|x| > max, beyond the value
    that rounds to max) and how many nonzero ones underflow to zero in it."""
    spec = fmt if isinstance(fmt, NumberFormat) else get_format(fmt)
    if not spec.is_float or spec.name == "fp32":
        return 0, 0
    x = np.abs(np.asarray(array, dtype=np.float64))
    finite = np.isfinite(x)
    overflow = int((finite & (x > spec.max)).sum())
    underflow = int(((x > 0) & (x <= spec.smallest_subnormal / 2)).sum())
    return overflow, underflow
