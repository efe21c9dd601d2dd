"""A sweep's summary.html in a real headless Chromium: it loads without console errors, the
model × target matrix is there and its badges are coloured by verdict."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from nnport.report.sweep import render_sweep_html
from nnport.sweep.cell import run_cell
from nnport.sweep.plan import Cell, cell_key, file_sha256

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-logging=stderr", "--v=0",
]  # fmt: skip


def _rows(tmp_path: Path) -> list[dict]:
    rows = []
    for name in ("cast_int64.onnx", "opset17.onnx"):
        model = str(EXAMPLES / name)
        digest = file_sha256(model)
        for target in ("ascend310", "onnxruntime"):
            cell = Cell(cell_key(digest, target, "default", "check", {}), model, digest, target,
                        "default", "check")  # fmt: skip
            rows.append(run_cell(cell, model, str(tmp_path / "cells" / cell.key)))
    return rows


def test_summary_lists_every_cell_with_its_verdict(tmp_path: Path) -> None:
    rows = _rows(tmp_path)
    page = render_sweep_html(rows, "nnport sweep: plan.toml")
    assert page.count("<a class='") == 4 and "<script" not in page
    assert {r["verdict"] for r in rows} == {"pass", "fail"}  # the int64 Cast blocks ascend310
    for row in rows:
        assert f"cells/{row['key']}/result.json" in page


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"
)
def test_summary_renders_in_chromium(tmp_path: Path) -> None:
    assert CHROMIUM is not None
    page = tmp_path / "summary.html"
    page.write_text(render_sweep_html(_rows(tmp_path), "nnport sweep: plan.toml"), encoding="utf-8")

    def chromium(*args: str, profile: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / profile}", *args,
                               page.as_uri()], capture_output=True, text=True, timeout=120)  # fmt: skip

    dom = chromium("--dump-dom", profile="dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "cast_int64.onnx" in dom.stdout and "ascend310" in dom.stdout
    assert not [ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    shot = tmp_path / "shot.png"
    done = chromium(f"--screenshot={shot}", "--window-size=1000,600", profile="shot")
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    image = pytest.importorskip("PIL.Image")
    pixels = np.asarray(image.open(shot).convert("RGB"), dtype=np.int16)
    green, amber = np.array([21, 128, 61]), np.array([180, 83, 9])  # pass and fail badges
    for colour in (green, amber):
        assert (np.abs(pixels - colour).sum(-1) <= 6).sum() > 50
