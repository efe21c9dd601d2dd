"""A rich progress bar on stderr fed by the recipes' progress callback (loss, accuracy)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from nnport.cli.common import err_console
from nnport.recipes.training import Progress as ProgressFn


@contextmanager
def training_progress(title: str) -> Iterator[ProgressFn]:
    """Yield a callback that advances a progress bar showing epoch, loss and accuracy."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )
    task = bar.add_task(title, total=None, stats="")
    started = False

    def update(
        step: int, total: int, epoch: int, loss: float, acc: float, held_out: float | None
    ) -> None:
        nonlocal started
        if not started:  # start drawing at the first step, after the data validated
            bar.start()
            started = True
        stats = f"epoch {epoch} loss {loss:.4f} acc {100 * acc:.2f}%"
        if held_out is not None:
            stats += f" held-out {100 * held_out:.2f}%"
        bar.update(task, completed=step, total=total, stats=stats)

    try:
        yield update
    finally:
        if started:
            bar.stop()
