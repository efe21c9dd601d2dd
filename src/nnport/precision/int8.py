"""int8 emulation: static QDQ quantization with onnxruntime.quantization (per-channel symmetric
weights, per-tensor activations; MinMax, Percentile or Entropy calibration) on given samples."""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnx_ir as ir

from nnport.errors import BackendError, UsageError

logger = logging.getLogger(__name__)

CALIBRATORS = ("minmax", "percentile", "entropy")
DEFAULT_CALIBRATION_SAMPLES = 128
QUANTIZED_KEY = "nnport.emulated_precision"


@dataclass(frozen=True)
class Int8Options:
    """How to quantize: the calibrator, per-channel weights, and the percentile it keeps."""

    calibrator: str = "minmax"
    per_channel: bool = True
    percentile: float = 99.999

    def __post_init__(self) -> None:
        if self.calibrator not in CALIBRATORS:
            raise UsageError(
                f"unknown calibrator {self.calibrator!r}", hint=f"choose {', '.join(CALIBRATORS)}"
            )


class _Reader:
    """onnxruntime.quantization's CalibrationDataReader over a list of feeds."""

    def __init__(self, feeds: Sequence[Mapping[str, np.ndarray]], names: set[str]) -> None:
        self._feeds = feeds
        self._names = names
        self._iter: Iterator[Mapping[str, np.ndarray]] = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        feed = next(self._iter, None)
        if feed is None:
            return None
        return {k: v for k, v in feed.items() if k in self._names}

    def rewind(self) -> None:
        self._iter = iter(self._feeds)


class _QuietPreprocessingAdvice(logging.Filter):
    """Drop onnxruntime.quantization's root-logger advice to run its pre-processing script."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing" not in record.getMessage()


def quantize_int8(
    model: ir.Model,
    calibration: Sequence[Mapping[str, np.ndarray]],
    options: Int8Options | None = None,
) -> ir.Model:
    """A new QDQ model: weights quantized per channel (symmetric int8), activations per tensor
    (int8 with a zero point) at scales calibrated on ``calibration``; ``model`` is untouched.

    This approximates what a vendor's quantizer (Huawei AMCT, the NNIE mapper) does; their
    algorithms are not public, so the numbers are an estimate of the int8 device's, not a copy.
    """
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    opts = options or Int8Options()
    if not calibration:
        raise UsageError("int8 quantization needs calibration samples")
    method = {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }[opts.calibrator]
    proto = ir.serde.serialize_model(model)
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opts.per_channel and opset < 13:
        proto = onnx.version_converter.convert_version(proto, 13)
    names = {i.name for i in proto.graph.input} - {t.name for t in proto.graph.initializer}
    extra = {
        "WeightSymmetric": True,
        "ActivationSymmetric": False,
        "CalibPercentile": opts.percentile,
    }
    with tempfile.TemporaryDirectory(prefix="nnport-int8-") as tmp:
        source = Path(tmp) / "model.onnx"
        target = Path(tmp) / "model.int8.onnx"
        onnx.save(proto, source)
        quiet = _QuietPreprocessingAdvice()
        logging.getLogger().addFilter(quiet)
        chatter = io.StringIO()
        try:
            # the histogram calibrators print progress on stdout, where --json writes
            with contextlib.redirect_stdout(chatter):
                quantize_static(
                    str(source),
                    str(target),
                    _Reader(calibration, names),
                    quant_format=QuantFormat.QDQ,
                    per_channel=opts.per_channel,
                    activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8,
                    calibrate_method=method,
                    extra_options=extra,
                )
        except Exception as exc:
            text = " ".join(str(exc).split())[:300] or type(exc).__name__
            raise BackendError(f"int8 quantization failed: {text}") from exc
        finally:
            logging.getLogger().removeFilter(quiet)
            if chatter.getvalue().strip():
                logger.debug("onnxruntime.quantization: %s", chatter.getvalue().strip())
        quantized = ir.serde.deserialize_model(onnx.load(str(target)))
    quantized.metadata_props[QUANTIZED_KEY] = "int8"
    quantized.metadata_props["nnport.int8_calibrator"] = opts.calibrator
    quantized.metadata_props["nnport.int8_calibration_samples"] = str(len(calibration))
    logger.info(
        "quantized to int8 (%s, %d calibration samples, per-channel %s)",
        opts.calibrator,
        len(calibration),
        opts.per_channel,
    )
    return quantized
