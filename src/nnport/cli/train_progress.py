"""Training progress on stderr: a rich bar on a terminal, plain lines (every few percent and
at each epoch's end) when stderr is a pipe or a log file."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

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


def _stats(epoch: int, loss: float, acc: float, held_out: float | None) -> str:
    text = f"epoch {epoch} loss {loss:.4f} acc {100 * acc:.2f}%"
    return text + (f" held-out {100 * held_out:.2f}%" if held_out is not None else "")


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


class PlainProgress:
    """A progress callback writing one flushed line per ``every`` percent of the steps and one
    per finished epoch (the recipes call again with the same step when an epoch ends)."""

    def __init__(self, title: str, stream: IO[str], *, every: int = 5) -> None:
        self.title, self.stream, self.every = title, stream, max(1, every)
        self.start = time.perf_counter()
        self.last_step = -1
        self.last_percent = 0

    def _line(self, text: str) -> None:
        elapsed = _clock(time.perf_counter() - self.start)
        self.stream.write(f"{self.title}: {text} [{elapsed}]\n")
        self.stream.flush()

    def __call__(
        self, step: int, total: int, epoch: int, loss: float, acc: float, held_out: float | None
    ) -> None:
        stats = _stats(epoch, loss, acc, held_out)
        if step == self.last_step:  # the epoch-end call: the epoch's full statistics
            self._line(f"{stats} (epoch done, step {step}/{total})")
            return
        self.last_step = step
        percent = 100 * step // max(1, total)
        if percent >= self.last_percent + self.every:
            self.last_percent = percent - percent % self.every
            self._line(f"{percent:3d}% step {step}/{total} {stats}")


@contextmanager
def training_progress(title: str) -> Iterator[ProgressFn]:
    """Yield a callback showing epoch, loss and accuracy: a live bar when stderr is a terminal,
    else plain lines (so a log or a CI job shows progress during a long run)."""
    if not err_console.is_terminal:
        yield PlainProgress(title, err_console.file)
        return
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
        bar.update(task, completed=step, total=total, stats=_stats(epoch, loss, acc, held_out))

    try:
        yield update
    finally:
        if started:
            bar.stop()
