"""The port report page: yes/no columns in words, and the nnport version and time it was made."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import nnport
from nnport.pipeline import PortOptions, port
from nnport.report.html import render_html


def test_html_report_words_version_and_time(tmp_path: Path, examples_dir: Path) -> None:
    model = nnport.load(examples_dir / "demo.onnx")
    result = port(model, "ascend310", tmp_path, PortOptions(bench_iterations=0))
    assert result.fix.passes and result.compares
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    page = render_html(result, generated=when)
    cells = re.findall(r"<td>(.*?)</td>", page)
    assert "True" not in cells and "False" not in cells
    assert not any(re.fullmatch(r"(True|False)", re.sub(r"<[^>]+>", "", c)) for c in cells)
    assert "<span class='ok'>kept</span>" in page
    assert "<span class='ok'>pass</span>" in page
    assert f"nnport {nnport.__version__}, 2026-01-02 03:04:05 UTC" in page


def test_html_report_stamps_the_current_time(tmp_path: Path, examples_dir: Path, cli) -> None:
    out = tmp_path / "out"
    run = cli("port", examples_dir / "cast_int64.onnx", "-t", "ascend310", "-o", out,
              "--iterations", "0")  # fmt: skip
    assert run.code == 0, run.err
    page = (out / "report.html").read_text()
    stamp = re.search(r"nnport [\w.+-]+, (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", page)
    assert stamp, page[:500]
    made = datetime.datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S")
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    assert abs((now - made).total_seconds()) < 600
