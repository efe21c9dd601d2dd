"""Result types shared by the training recipes (epoch statistics, training runs) and progress hooks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# progress(step, total_steps, epoch, running_loss, running_accuracy, held_out_accuracy | None)
Progress = Callable[[int, int, int, float, float, "float | None"], None]


@dataclass(frozen=True)
class EpochStats:
    """Loss and accuracy after one epoch; ``seconds`` is the wall time since training began."""

    epoch: int
    train_loss: float
    train_accuracy: float
    test_accuracy: float
    seconds: float


@dataclass(frozen=True)
class TrainResult:
    """What a training run did: per-epoch statistics, final held-out accuracy and time.

    ``test_accuracy`` is that of the returned weights (``final_weights``), which may differ from the
    last epoch's row when the recipe returns an average of the weights.
    """

    recipe: str
    epochs: tuple[EpochStats, ...]
    train_samples: int
    test_samples: int
    test_accuracy: float
    seconds: float
    threads: int
    cpu_seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)
    checkpoint: str = ""
    final_weights: str = "last step"  # or e.g. "EMA of the weights (decay 0.998)"
