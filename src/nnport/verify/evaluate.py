"""Dataset evaluation: top-1 accuracy per backend, agreement with the source model, disagreements."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx_ir as ir

from nnport.errors import DatasetError, UsageError
from nnport.model.io import load
from nnport.precision.formats import get_format
from nnport.precision.native import PrecisionPlan, plan_precision
from nnport.verify.precision import Calibration, calibration_feeds, open_precision_runner

logger = logging.getLogger(__name__)

DATASETS = ("mnist", "imagefolder")
MNIST_NORMALIZATION = ((0.1307,), (0.3081,))
IMAGENET_NORMALIZATION = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
MAX_LISTED = 1000


@dataclass(frozen=True)
class EvaluateOptions:
    """What to evaluate on: dataset kind and folder, backends, optional source checkpoint."""

    dataset: str
    data: str
    backends: tuple[str, ...] = ("onnxruntime",)
    source: str | None = None
    limit: int | None = None
    batch_size: int = 500
    threads: int | None = None
    precisions: tuple[str, ...] = ("fp32",)
    calibration: Calibration | None = None


@dataclass(frozen=True)
class BackendAccuracy:
    """One backend's top-1 accuracy in one precision, its agreement with the source model and
    with the same backend in fp32 (and the images whose class changes), and its speed."""

    backend: str
    correct: int
    count: int
    accuracy: float
    agreement_with_source: float | None
    seconds: float
    images_per_second: float
    config: dict[str, str] = field(default_factory=dict)
    precision: str = "fp32"
    precision_mode: str = "native"
    agreement_with_fp32: float | None = None
    changed_vs_fp32: int = 0
    changed_images: tuple[int, ...] = ()  # first MAX_LISTED images whose class changes vs fp32

    @property
    def precision_label(self) -> str:
        """``precision=int8 (emulated)``."""
        return f"precision={self.precision} ({self.precision_mode})"


@dataclass(frozen=True)
class EvaluateResult:
    """Accuracy per backend on a dataset and the images where predictions differ."""

    model: str
    dataset: str
    data: str
    count: int
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    backends: tuple[BackendAccuracy, ...]
    source: str | None
    source_accuracy: float | None
    disagreement_count: int
    disagreements: tuple[int, ...]  # image indices (first MAX_LISTED) where any prediction differs

    @property
    def all_agree(self) -> bool:
        """True when every backend (and the source) predicts the same class on every image."""
        return self.disagreement_count == 0


@dataclass(frozen=True)
class _Data:
    images: np.ndarray  # uint8 NCHW
    labels: np.ndarray  # int64 N
    classes: tuple[str, ...]


def _meta_floats(model: ir.Model, key: str) -> tuple[float, ...] | None:
    text = model.metadata_props.get(f"nnport.{key}")
    if not text:
        return None
    try:
        return tuple(float(v) for v in json.loads(text))
    except (ValueError, TypeError) as exc:
        raise UsageError(f"model metadata nnport.{key} is not a list of numbers: {text!r}") from exc


def _input(model: ir.Model) -> tuple[str, tuple[int | None, ...]]:
    inputs = [v for v in model.graph.inputs if v.name not in model.graph.initializers]
    if len(inputs) != 1:
        raise UsageError(f"evaluate needs a model with one image input; this one has {len(inputs)}")
    value = inputs[0]
    if value.shape is None or len(value.shape) != 4:
        raise UsageError(f"input {value.name!r} is not an NCHW image tensor (shape {value.shape})")
    dims = tuple(d if isinstance(d, int) else None for d in value.shape)
    return value.name or "input", dims


def _load_data(options: EvaluateOptions, dims: tuple[int | None, ...], model: ir.Model) -> _Data:
    if options.dataset == "mnist":
        from nnport.data.idx import load_mnist

        split = load_mnist(options.data, "test", limit=options.limit)
        if dims[1:] not in ((1, 28, 28), (None, None, None)):
            raise UsageError(f"the model takes {dims[1:]} images, MNIST has 1x28x28")
        return _Data(split.images[:, None], split.labels, tuple(str(i) for i in range(10)))
    from nnport.data.imagefolder import ImageFolder, load_images, scan_image_folder

    folder = scan_image_folder(options.data)
    size = dims[2]
    if size is None or dims[3] != size:
        shape_text = model.metadata_props.get("nnport.input_shape")
        size = int(json.loads(shape_text)[2]) if shape_text else None
    if size is None:
        raise UsageError("the model's input size is dynamic; export it with a static H and W")
    samples = folder.samples[: options.limit] if options.limit else folder.samples
    classes_text = model.metadata_props.get("nnport.classes")
    classes = tuple(json.loads(classes_text)) if classes_text else folder.classes
    unknown = [c for c in folder.classes if c not in classes]
    if unknown:
        raise DatasetError(
            f"class folder(s) {', '.join(unknown)} in {options.data} are not among the model's "
            f"classes ({', '.join(classes)})"
        )
    remap = {i: classes.index(name) for i, name in enumerate(folder.classes)}
    images, labels = load_images(ImageFolder(folder.root, folder.classes, samples), size)
    labels = np.array([remap[int(v)] for v in labels], dtype=np.int64)
    return _Data(images, labels, classes)


def _normalize(images: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    x = images.astype(np.float32) / np.float32(255.0)
    m = np.asarray(mean, np.float32).reshape(1, -1, 1, 1)
    s = np.asarray(std, np.float32).reshape(1, -1, 1, 1)
    return (x - m) / s


def _predict(
    plan: PrecisionPlan,
    model: ir.Model,
    input_name: str,
    dims: tuple[int | None, ...],
    x: np.ndarray,
    options: EvaluateOptions,
    calibration: list[dict[str, np.ndarray]] | None,
) -> tuple[np.ndarray, float, dict[str, str]]:
    """Top-1 predictions of ``plan``'s backend in its precision on normalized images, batched,
    and the wall time."""
    name = plan.backend
    kwargs: dict[str, object] = {"threads": options.threads}
    static = dims[0] is not None
    batch = int(dims[0]) if dims[0] is not None else options.batch_size
    sample_shape = tuple(int(d) for d in x.shape[1:])
    if name == "ncnn" and not plan.emulated:
        # ncnn has no batch axis: convert for one sample; the runner loops over the batch.
        kwargs["input_shapes"] = {input_name: (1, *sample_shape)}
    int8 = (options.calibration or Calibration()).int8_options()
    preds = np.empty(len(x), dtype=np.int64)
    runner_cm = open_precision_runner(
        plan, model, calibration=calibration, int8=int8, options=kwargs
    )
    with runner_cm as runner:
        output = runner.output_names()[0] if hasattr(runner, "output_names") else None
        start = time.perf_counter()
        for i in range(0, len(x), batch):
            chunk = x[i : i + batch]
            n = len(chunk)
            if static and n < batch:  # pad the last batch of a static-batch model
                pad = np.zeros((batch - n, *chunk.shape[1:]), dtype=chunk.dtype)
                chunk = np.concatenate([chunk, pad])
            outputs = runner.infer({input_name: chunk})
            scores = outputs[output] if output in outputs else next(iter(outputs.values()))
            preds[i : i + n] = np.asarray(scores).reshape(len(chunk), -1)[:n].argmax(1)
        seconds = time.perf_counter() - start
        config = runner.config()
    return preds, seconds, config


# The source model's scores for a batch of normalized images (the framework the model was
# exported from: nnport.recipes.sources builds one from a checkpoint).
SourcePredictor = Callable[[np.ndarray], np.ndarray]


def _source_predictions(predict: SourcePredictor, x: np.ndarray) -> np.ndarray:
    preds = [np.asarray(predict(x[i : i + 500])).argmax(1) for i in range(0, len(x), 500)]
    return np.concatenate(preds) if preds else np.zeros(0, np.int64)


def _calibration(model: ir.Model, options: EvaluateOptions) -> list[dict[str, np.ndarray]]:
    """int8 calibration samples: as given, else the dataset's (MNIST's training split; the
    image folder itself)."""
    calibration = options.calibration or Calibration()
    if calibration.source is None:
        default = f"mnist:{options.data}" if options.dataset == "mnist" else options.data
        calibration = Calibration(
            default, calibration.samples, calibration.seed, calibration.calibrator
        )
    feeds, text = calibration_feeds(model, calibration)
    logger.info("int8 calibration: %s", text)
    return feeds


def evaluate(
    model_path: str | Path, options: EvaluateOptions, source: SourcePredictor | None = None
) -> EvaluateResult:
    """Run every backend over the dataset; compare predictions with labels, ``source`` (the
    model ``options.source`` names, loaded by the caller) and each other."""
    if options.dataset not in DATASETS:
        raise UsageError(
            f"unknown dataset {options.dataset!r}", hint=f"choose {', '.join(DATASETS)}"
        )
    if not options.backends:
        raise UsageError("give at least one backend")
    model = load(model_path)
    input_name, dims = _input(model)
    data = _load_data(options, dims, model)
    if len(data.labels) == 0:
        raise DatasetError(f"{options.data} holds no images")
    default = MNIST_NORMALIZATION if options.dataset == "mnist" else IMAGENET_NORMALIZATION
    mean = _meta_floats(model, "mean")
    std = _meta_floats(model, "std")
    if mean is None or std is None:
        logger.warning(
            "the model records no normalization (nnport.mean/std metadata); using %s defaults",
            options.dataset,
        )
        mean, std = default
    x = _normalize(data.images, mean, std)
    source_preds = _source_predictions(source, x) if source is not None else None
    results = []
    all_preds = [] if source_preds is None else [source_preds]
    precisions = tuple(get_format(p).name for p in options.precisions) or ("fp32",)
    calibration = None
    if "int8" in precisions:
        calibration = _calibration(model, options)
    for name in options.backends:
        fp32_preds: np.ndarray | None = None
        # fp32 first: every other precision is compared with it
        for precision in sorted(precisions, key=lambda p: p != "fp32"):
            plan = plan_precision(name, precision)
            preds, seconds, config = _predict(
                plan, model, input_name, dims, x, options, calibration
            )
            if precision == "fp32":
                fp32_preds = preds
            all_preds.append(preds)
            correct = int((preds == data.labels).sum())
            agreement = float((preds == source_preds).mean()) if source_preds is not None else None
            changed = np.zeros(0, np.int64)
            if fp32_preds is not None and precision != "fp32":
                changed = np.flatnonzero(preds != fp32_preds)
            results.append(
                BackendAccuracy(
                    backend=name,
                    correct=correct,
                    count=len(preds),
                    accuracy=correct / len(preds),
                    agreement_with_source=agreement,
                    seconds=seconds,
                    images_per_second=len(preds) / seconds if seconds > 0 else 0.0,
                    config=config,
                    precision=plan.precision,
                    precision_mode=plan.mode,
                    agreement_with_fp32=(
                        1.0 - len(changed) / len(preds) if fp32_preds is not None else None
                    ),
                    changed_vs_fp32=len(changed),
                    changed_images=tuple(int(i) for i in changed[:MAX_LISTED]),
                )
            )
            logger.info(
                "%s %s: %d/%d correct in %.2f s", name, precision, correct, len(preds), seconds
            )
    stacked = np.stack(all_preds)
    differs = np.flatnonzero((stacked != stacked[0]).any(axis=0))
    return EvaluateResult(
        model=str(model_path),
        dataset=options.dataset,
        data=options.data,
        count=len(data.labels),
        classes=data.classes,
        mean=tuple(mean),
        std=tuple(std),
        backends=tuple(results),
        source=options.source,
        source_accuracy=(
            float((source_preds == data.labels).mean()) if source_preds is not None else None
        ),
        disagreement_count=len(differs),
        disagreements=tuple(int(i) for i in differs[:MAX_LISTED]),
    )
