"""The tree stays clean: ruff (lint and format) and mypy (typed package) as configured."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.mark.skipif(importlib.util.find_spec("ruff") is None, reason="ruff not installed (dev)")
def test_ruff() -> None:
    lint = _run("ruff", "check", "src", "tests", "benchmarks", "examples")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = _run("ruff", "format", "--check", "src", "tests")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy not installed (dev)")
def test_mypy() -> None:
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_modules_stay_small() -> None:
    """House style: modules under ~500 lines, one responsibility each."""
    big = {
        str(p.relative_to(ROOT)): n
        for p in (ROOT / "src" / "nnport").rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 500
    }
    assert big == {}
