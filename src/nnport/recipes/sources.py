"""Source models as predictors: the framework a model was exported from, run on numpy batches."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from nnport.recipes.load import load_checkpoint
from nnport.recipes.torchutil import require_torch


def torch_source(path: str | Path) -> Callable[[np.ndarray], np.ndarray]:
    """A predictor running the nnport checkpoint at ``path`` in torch (scores per image)."""
    torch = require_torch()
    module, _info = load_checkpoint(path)

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(np.ascontiguousarray(x))).numpy()

    return predict
