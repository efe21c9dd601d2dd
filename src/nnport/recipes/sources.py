"""Source models as predictors: the framework a model was exported from, run on numpy batches."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from nnport.recipes.load import load_checkpoint
from nnport.recipes.torchutil import require_torch

Predictor = Callable[[np.ndarray], np.ndarray]


def load_source(source: str, checkpoint: str | Path | None = None) -> Predictor:
    """The source model a file was exported from, as a predictor on NCHW image batches: a Keras
    file or SavedModel folder, a MindSpore MODULE:FACTORY with ``checkpoint``, else an nnport
    torch checkpoint."""
    from nnport.recipes.keras_source import is_keras_source

    if is_keras_source(Path(source).expanduser()):
        return keras_source(source)
    if checkpoint is not None:
        return mindspore_source(source, checkpoint)
    return torch_source(source)


def keras_source(path: str | Path) -> Predictor:
    """A predictor running a Keras model; NCHW batches are fed NHWC when its input is NHWC."""
    from nnport.recipes.keras_source import load_keras

    model = load_keras(path)
    declared = tuple(model.inputs[0].shape) if getattr(model, "inputs", None) else ()

    def predict(x: np.ndarray) -> np.ndarray:
        if x.ndim == 4 and len(declared) == 4 and declared[-1] == x.shape[1] != declared[1]:
            x = x.transpose(0, 2, 3, 1)  # the dataset reader's NCHW to the model's NHWC
        return np.asarray(model(x, training=False))

    return predict


def mindspore_source(spec: str, checkpoint: str | Path) -> Predictor:
    """A predictor running a MindSpore network (MODULE:FACTORY) with its checkpoint."""
    from nnport.recipes.mindspore_source import load_network, require_mindspore

    ms = require_mindspore()
    net = load_network(spec, checkpoint)

    def predict(x: np.ndarray) -> np.ndarray:
        return np.asarray(net(ms.Tensor(np.ascontiguousarray(x))).asnumpy())

    return predict


def torch_source(path: str | Path) -> Predictor:
    """A predictor running the nnport checkpoint at ``path`` in torch (scores per image)."""
    torch = require_torch()
    module, _info = load_checkpoint(path)

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(np.ascontiguousarray(x))).numpy()

    return predict


def detector_source(path: str | Path) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """An nnport detector checkpoint as a function of one preprocessed batch (boxes, scores)."""
    from nnport.errors import UsageError
    from nnport.recipes.detector import for_export

    torch = require_torch()
    module, info = load_checkpoint(path)
    if info.architecture != "shapes_detector":
        raise UsageError(f"--source {path} is a {info.architecture} checkpoint, not a detector")
    wrapped = for_export(module)

    def run(x: np.ndarray) -> dict[str, np.ndarray]:
        with torch.no_grad():
            boxes, scores = wrapped(torch.from_numpy(np.ascontiguousarray(x, np.float32)))
        return {"boxes": boxes.numpy(), "scores": scores.numpy()}

    return run
