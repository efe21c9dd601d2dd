"""The diagnose page in a real headless Chromium: it loads without console errors and its
annotated images render (the screenshot shows the drawn boxes' colours)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from nnport.report.diagnose import render_diagnose_html
from nnport.verify.diagnose import DiagnoseOptions, diagnose

PIL = pytest.importorskip("PIL")
ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "examples" / "shapes_detector.onnx"
IMAGES = ROOT / "examples" / "shapes"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-logging=stderr", "--v=0",
]  # fmt: skip

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"
)


def _chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_diagnose_page_renders_in_chromium(tmp_path: Path) -> None:
    result = diagnose(MODEL, DiagnoseOptions(images=str(IMAGES), limit=4))
    page = tmp_path / "diagnose.html"
    page.write_text(render_diagnose_html(result), encoding="utf-8")
    dom = _chromium(page, tmp_path / "profile-dom", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count("<img") == 4 and "every check passed" in dom.stdout
    console_errors = [
        line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line
    ]
    assert not console_errors, console_errors
    shot = tmp_path / "shot.png"
    done = _chromium(page, tmp_path / "profile-shot", f"--screenshot={shot}",
                     "--window-size=1200,1400", "--hide-scrollbars")  # fmt: skip
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    palette = np.array([(230, 25, 75), (60, 180, 75), (0, 130, 200)], np.int16)
    # some pixels carry a box colour: the inline PNGs decoded and were drawn
    close = np.abs(pixels[:, :, None, :] - palette[None, None]).sum(-1).min(-1) <= 6
    assert close.sum() > 200
    assert pixels.std() > 20  # not a blank page
