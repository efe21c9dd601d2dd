"""Load what the recipes saved: a checkpoint's architecture rebuilt with its weights, or a
user's own factory function with optional weights."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

from nnport.errors import ModelLoadError, UsageError
from nnport.recipes.checkpoint import FORMAT, CheckpointInfo, torch_load
from nnport.recipes.torchutil import require_torch


def build_model(architecture: str, arch_kwargs: dict[str, Any]) -> Any:
    """Instantiate a recipe architecture by name (``mnist_cnn`` or ``classifier``)."""
    if architecture == "mnist_cnn":
        from nnport.recipes.mnist import build_mnist_cnn

        return build_mnist_cnn()
    if architecture == "classifier":
        from nnport.recipes.classifier import build_classifier

        return build_classifier(**arch_kwargs)
    if architecture == "shapes_detector":
        from nnport.recipes.detector import build_detector

        return build_detector(**arch_kwargs)
    raise ModelLoadError(f"unknown architecture {architecture!r} in checkpoint")


def load_checkpoint(path: str | Path) -> tuple[Any, CheckpointInfo]:
    """Load an nnport checkpoint; return the model (eval mode) and its description."""
    path = Path(path)
    payload = torch_load(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelLoadError(
            f"{path} is not an nnport checkpoint (no architecture recorded)",
            hint="for any other torch model pass MODULE:FACTORY with --weights FILE",
        )
    info = CheckpointInfo(
        architecture=str(payload["architecture"]),
        arch_kwargs=dict(payload.get("arch_kwargs", {})),
        input_shape=tuple(int(d) for d in payload["input_shape"]),
        mean=tuple(float(v) for v in payload.get("mean", ())),
        std=tuple(float(v) for v in payload.get("std", ())),
        classes=tuple(str(c) for c in payload.get("classes", ())),
        metrics=dict(payload.get("metrics", {})),
    )
    model = build_model(info.architecture, info.arch_kwargs)
    _load_state(model, payload["state_dict"], path)
    return model.eval(), info


def _load_state(model: Any, state: Any, path: Path) -> None:
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelLoadError(f"{path} does not hold a state_dict")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = " ".join(str(exc).split())[:300]
        raise ModelLoadError(f"{path} does not fit the model: {first}") from exc


def import_factory(spec: str) -> Any:
    """``package.module:factory`` -> the factory callable (the current folder is importable)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"{spec!r} is neither a checkpoint file nor MODULE:FACTORY")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"cannot import module {module_name!r}: {exc}") from exc
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        raise UsageError(f"module {module_name!r} has no callable {attr!r}")
    return factory


def load_factory(spec: str, weights: str | Path | None) -> Any:
    """``package.module:factory`` -> factory() as a torch.nn.Module, with optional weights loaded."""
    torch = require_torch()
    model = import_factory(spec)()
    if not isinstance(model, torch.nn.Module):
        raise UsageError(f"{spec} returned {type(model).__name__}, not a torch.nn.Module")
    if weights is not None:
        _load_state(model, torch_load(Path(weights)), Path(weights))
    return model.eval()
