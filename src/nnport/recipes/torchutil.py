"""Lazy torch import with a clear error naming the ``torch`` extra, and small shared helpers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from nnport.errors import BackendUnavailableError


def require_torch() -> ModuleType:
    """Import torch, or raise BackendUnavailableError naming the extra that installs it."""
    try:
        import torch
    except ImportError as exc:
        raise BackendUnavailableError(
            "this recipe needs PyTorch (the 'torch' package), which is not installed",
            hint="pip install 'nnport[torch]'",
        ) from exc
    return torch


def require_torchvision() -> ModuleType:
    """Import torchvision, or raise BackendUnavailableError naming the ``torch`` extra."""
    require_torch()
    try:
        import torchvision
    except ImportError as exc:
        raise BackendUnavailableError(
            "this recipe needs torchvision, which is not installed",
            hint="pip install 'nnport[torch]'",
        ) from exc
    return torchvision


def seed_everything(seed: int) -> Any:
    """Seed torch (and return a torch.Generator seeded the same) for deterministic runs."""
    torch = require_torch()
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` torch CPU threads (None: unchanged), then restore them."""
    torch = require_torch()
    previous = int(torch.get_num_threads())
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
