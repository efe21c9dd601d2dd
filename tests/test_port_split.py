"""``nnport port`` on a model whose NMS post-processing must run on the host: both parts are
written, the device part is compared with the original's device part, the report says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import onnx

from detector_graph import detector_model
from nnport.pipeline import PortResult
from nnport.results import loads


def test_port_carries_the_split_through(cli: Any, tmp_path: Path) -> None:
    src = tmp_path / "det.onnx"
    onnx.save(detector_model(), src)
    out = tmp_path / "out"
    result = cli("port", src, "-t", "ascend310", "-o", out, "--iterations", "0")
    assert result.code == 0, result.err + result.out
    text = " ".join(result.out.split())
    assert "post-processing runs on the host" in text
    assert "device part then host post-processing reproduce the original outputs" in text
    assert (out / "det.ascend310.onnx").is_file() and (out / "det.ascend310.post.onnx").is_file()
    report = json.loads((out / "report.json").read_text())
    assert report["host_output"].endswith("det.ascend310.post.onnx")
    assert report["fix"]["split"]["verified"] and report["fix"]["split"]["cut"] == ["b0", "s0"]
    outputs = {m["name"] for c in report["compares"] for m in c["outputs"]}
    assert outputs == {"b0", "s0"}  # the device part, compared with the original's
    page = (out / "report.html").read_text()
    assert "post-processing runs on the host" in page and "det.ascend310.post.onnx" in page
    back = loads(PortResult, (out / "report.json").read_text())
    assert back.fix.split is not None and back.host_output == report["host_output"]


def test_port_with_pre_and_post_processing_on_the_host(cli: Any, tmp_path: Path) -> None:
    src = tmp_path / "det.onnx"
    onnx.save(detector_model(normalize=True), src)
    out = tmp_path / "out"
    result = cli("port", src, "-t", "nnie", "-o", out, "--iterations", "0")
    assert result.code == 0, result.err + result.out
    assert (out / "det.nnie.pre.onnx").is_file() and (out / "det.nnie.post.onnx").is_file()
    text = " ".join(result.out.split())
    assert "pre-processing runs on the host" in text and "post-processing runs on the host" in text
    report = json.loads((out / "report.json").read_text())
    assert report["pre_output"].endswith("det.nnie.pre.onnx")
    assert all(c["passed"] for c in report["compares"])
    assert "pre-processing runs on the host" in (out / "report.html").read_text()
