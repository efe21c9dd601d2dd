"""Helper the target tests share: does a runtime convert, run and match ONNX Runtime on a model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from nnport.backends import make_runner
from nnport.errors import NnportError


def random_feeds(path: Path) -> dict[str, np.ndarray]:
    """Seeded float32 N(0, 1) feeds for every graph input of the model at ``path``."""
    rng = np.random.default_rng(0)
    model = onnx.load(path)
    return {
        i.name: rng.standard_normal([d.dim_value for d in i.type.tensor_type.shape.dim]).astype(
            np.float32
        )
        for i in model.graph.input
    }


def matches_onnxruntime(backend: str, path: Path) -> bool:
    """True when ``backend`` converts and runs the model and matches ONNX Runtime."""
    feeds = random_feeds(path)
    with make_runner("onnxruntime", path) as ref:
        expected = ref.infer(feeds)
    try:
        with make_runner(backend, path) as runner:
            got = runner.infer(feeds)
    except NnportError:
        return False
    return all(
        got[k].shape == v.shape and np.allclose(got[k], v, rtol=1e-3, atol=1e-4)
        for k, v in expected.items()
    )
