"""``nnport train`` shows its progress when stderr is not a terminal: plain lines every few
percent and one per finished epoch."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from nnport.cli.train_progress import PlainProgress


def test_plain_lines_every_five_percent_and_per_epoch() -> None:
    stream = io.StringIO()
    progress = PlainProgress("train mnist", stream, every=5)
    total, per_epoch = 200, 100
    for epoch in (1, 2):
        for step in range((epoch - 1) * per_epoch + 1, epoch * per_epoch + 1):
            progress(step, total, epoch, 0.5, 0.9, None)
        progress(epoch * per_epoch, total, epoch, 0.25, 0.95, 0.97)  # the epoch-end call
    lines = stream.getvalue().splitlines()
    percent = [line for line in lines if "% step" in line]
    done = [line for line in lines if "epoch done" in line]
    assert len(percent) == 20  # 5%, 10%, ..., 100%
    assert percent[0].startswith("train mnist:   5% step 10/200 epoch 1 loss 0.5000")
    assert len(done) == 2
    assert "epoch 2 loss 0.2500 acc 95.00% held-out 97.00% (epoch done, step 200/200)" in done[1]
    assert all(line.endswith("]") for line in lines)  # each with the elapsed time


def test_train_cli_prints_progress_lines_when_piped(cli, mnist_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    out = tmp_path / "m.pt"
    run = cli("train", "mnist", "--data", mnist_dir, "--limit", "256", "--epochs", "2",
              "--batch-size", "32", "-o", out)  # fmt: skip
    assert run.code == 0, run.err
    lines = run.err.splitlines()
    assert sum("epoch done" in line for line in lines) == 2, run.err
    assert sum(line.startswith("train mnist:") and "% step" in line for line in lines) >= 10
    assert "\r" not in run.err and "\x1b[" not in run.err  # no bar drawing in a log
