"""Self-describing checkpoints (architecture, input shape, normalization, classes) and module loading."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnport.errors import ModelLoadError, ModelSaveError
from nnport.model.io import atomic_path
from nnport.recipes.torchutil import require_torch

FORMAT = "nnport-checkpoint"
VERSION = 1


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint says about its model: enough to rebuild, export and evaluate it."""

    architecture: str
    arch_kwargs: dict[str, Any]
    input_shape: tuple[int, ...]
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    classes: tuple[str, ...] = ()
    metrics: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(model: Any, path: str | Path, info: CheckpointInfo) -> Path:
    """Write the model's weights and ``info`` atomically (temp file, then rename)."""
    torch = require_torch()
    path = Path(path)
    if not path.parent.exists():
        raise ModelSaveError(f"output folder {path.parent} does not exist")
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "architecture": info.architecture,
        "arch_kwargs": dict(info.arch_kwargs),
        "input_shape": list(info.input_shape),
        "mean": list(info.mean),
        "std": list(info.std),
        "classes": list(info.classes),
        "metrics": dict(info.metrics),
        "state_dict": model.state_dict(),
    }
    try:
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
    except OSError as exc:
        raise ModelSaveError(f"could not write {path}: {exc}") from exc
    return path


def torch_load(path: Path) -> Any:
    torch = require_torch()
    if not path.is_file():
        raise ModelLoadError(f"no such file: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = " ".join(str(exc).split())[:200]
        raise ModelLoadError(
            f"{path} is not a readable PyTorch checkpoint: {first}",
            hint="pass a file written by torch.save (a state_dict or an nnport checkpoint)",
        ) from exc
