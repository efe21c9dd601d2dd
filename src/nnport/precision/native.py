"""Which backend runs a precision natively and which is emulated on ONNX Runtime, and why."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import Any

from nnport.errors import UsageError
from nnport.precision.formats import get_format

logger = logging.getLogger(__name__)

# The backends that run an ONNX model, so nnport can emulate a format for them on ONNX Runtime.
_ONNX_BACKENDS = ("onnxruntime", "openvino", "ncnn")
_OPENVINO_HINT = {"fp32": "f32", "fp16": "f16", "bf16": "bf16"}
_OPENVINO_CAPABILITY = {"fp16": "FP16", "bf16": "BF16"}


@dataclass(frozen=True)
class PrecisionPlan:
    """How one backend runs one precision: ``mode`` is ``native`` (the runtime computes in it,
    ``options`` go to its runner) or ``emulated`` (``emulate``/``int8`` on ONNX Runtime)."""

    precision: str
    mode: str
    backend: str
    options: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def label(self) -> str:
        """``precision=fp16 (emulated)``: the words every result carries."""
        return f"precision={self.precision} ({self.mode})"

    @property
    def emulated(self) -> bool:
        """True when nnport emulates the format on ONNX Runtime."""
        return self.mode == "emulated"


@functools.cache
def openvino_cpu_capabilities() -> tuple[str, ...]:
    """The CPU plugin's OPTIMIZATION_CAPABILITIES (FP32, FP16, BF16, INT8, ...), or () when
    OpenVINO is not installed."""
    try:
        import openvino as ov
    except ImportError:
        return ()
    try:
        return tuple(str(c) for c in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    except Exception as exc:  # a plugin that cannot answer: treat as FP32 only
        logger.info("OpenVINO CPU capabilities unavailable: %s", exc)
        return ("FP32",)


def plan_precision(backend: str, precision: str) -> PrecisionPlan:
    """How ``backend`` runs ``precision``; a UsageError when it can neither run nor emulate it.

    Native: fp32 everywhere; OpenVINO fp16/bf16 through its inference-precision hint when
    the CPU reports the capability; ncnn fp16 through its fp16 storage/packed/arithmetic
    options. Emulated on ONNX Runtime: fp16/bf16 (``emulate``), int8 (QDQ, ``int8``).
    """
    fmt = get_format(precision).name
    if fmt == "fp32":
        options = {"precision": "f32"} if backend in ("openvino", "ncnn") else {}
        return PrecisionPlan(fmt, "native", backend, options)
    if backend not in _ONNX_BACKENDS:
        raise UsageError(
            f"backend {backend!r} cannot run {fmt}, and nnport emulates {fmt} only for an ONNX "
            "model",
            hint="compare the ONNX model with --backend onnxruntime --precision " + fmt,
        )
    if backend == "openvino" and fmt in _OPENVINO_CAPABILITY:
        capabilities = openvino_cpu_capabilities()
        if _OPENVINO_CAPABILITY[fmt] in capabilities:
            return PrecisionPlan(fmt, "native", "openvino", {"precision": _OPENVINO_HINT[fmt]})
        return PrecisionPlan(
            fmt,
            "emulated",
            "onnxruntime",
            note=f"this CPU gives OpenVINO no {fmt} unit (capabilities "
            f"{', '.join(capabilities) or 'unknown'}): {fmt} emulated on ONNX Runtime",
        )
    if backend == "ncnn" and fmt == "fp16":
        return PrecisionPlan(
            fmt,
            "native",
            "ncnn",
            {"precision": "f16"},
            note="ncnn fp16 storage, packing and arithmetic on; on x86 ncnn stores in fp16 and "
            "computes in fp32 where it has no fp16 arithmetic",
        )
    note = (
        "" if backend == "onnxruntime" else f"{backend} has no {fmt} mode: emulated on ONNX Runtime"
    )
    return PrecisionPlan(fmt, "emulated", "onnxruntime", note=note)
