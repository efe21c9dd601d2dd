"""Model inputs from an image folder, preprocessed by the model's spec (or one given)."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from nnport.data.detection import list_images, read_rgb
from nnport.errors import UsageError
from nnport.model.preprocess import PreprocessSpec


def image_feeds(
    model: ir.Model, folder: str, preprocess: str | None = None, limit: int = 8
) -> tuple[list[dict[str, np.ndarray]], str]:
    """One feed per image (the first ``limit``), and a description of where they came from."""
    spec = PreprocessSpec.parse(preprocess) if preprocess else PreprocessSpec.from_metadata(
        model.metadata_props
    )  # fmt: skip
    if spec is None:
        raise UsageError(
            "the model records no preprocessing (nnport.preprocess metadata)",
            hint='give --preprocess, e.g. "rgb,letterbox=160,scale=1/255"',
        )
    inputs = [v for v in model.graph.inputs if v.name not in model.graph.initializers]
    if len(inputs) != 1:
        raise UsageError(f"--images needs a model with one image input; it has {len(inputs)}")
    name = inputs[0].name or "input"
    paths = list_images(folder)[:limit]
    feeds = [{name: spec.apply(read_rgb(p))[0]} for p in paths]
    return feeds, f"{len(feeds)} image(s) from {folder}, preprocessed {spec.format()}"
