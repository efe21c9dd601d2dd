"""`nnport diagnose` on the bundled detector: it passes the healthy pipeline and names the fault
in each broken one (0-255 input, BGR, a second Sigmoid, a threshold above every score, NHWC)."""

from __future__ import annotations

import json
from pathlib import Path

import onnx_ir as ir
import pytest

from nnport.cli.app import run
from nnport.model.io import load, save
from nnport.verify.diagnose import FAIL, PASS, DiagnoseOptions, DiagnoseResult, diagnose

pytest.importorskip("PIL")
ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "examples" / "shapes_detector.onnx"
IMAGES = ROOT / "examples" / "shapes"
HEALTHY = "rgb,letterbox=160,pad=114,scale=1/255,mean=0,std=1,nchw,float32"


def _status(result: DiagnoseResult) -> dict[str, str]:
    return {c.name: c.status for c in result.checks}


def _run(preprocess: str = HEALTHY, model: Path = MODEL, threshold: float = 0.25) -> DiagnoseResult:
    options = DiagnoseOptions(
        images=str(IMAGES), preprocess=preprocess, score_threshold=threshold, limit=6
    )
    return diagnose(model, options)


def test_healthy_pipeline_passes() -> None:
    result = _run()
    assert result.passed, [(c.name, c.reason) for c in result.checks if c.status != PASS]
    assert all(status == PASS for status in _status(result).values())
    assert sum(len(image.boxes) for image in result.images) >= 6


def test_input_fed_0_255_to_a_0_1_model() -> None:
    result = _run(HEALTHY.replace("scale=1/255", "scale=1"))
    assert _status(result)["input-range"] == FAIL
    assert not result.passed
    reason = next(c.reason for c in result.checks if c.name == "input-range")
    assert "x/255" in reason


def test_bgr_fed_to_an_rgb_model() -> None:
    result = _run(HEALTHY.replace("rgb,", "bgr,"))
    status = _status(result)
    assert status["channel-order"] == FAIL and status["input-range"] == PASS


def test_second_sigmoid_on_the_scores(tmp_path: Path) -> None:
    model = load(MODEL)
    scores = next(v for v in model.graph.outputs if v.name == "scores")
    node = ir.node("Sigmoid", [scores], outputs=[ir.Value(name="scores_twice")])
    model.graph.append(node)
    index = list(model.graph.outputs).index(scores)
    scores.name = "scores_once"
    model.graph.outputs[index] = node.outputs[0]
    node.outputs[0].name = "scores"
    node.outputs[0].type, node.outputs[0].shape = scores.type, scores.shape
    broken = tmp_path / "twice.onnx"
    save(model, broken)
    result = _run(model=broken)
    assert _status(result)["score-distribution"] == FAIL
    assert "sigmoid" in next(c.reason for c in result.checks if c.name == "score-distribution")


def test_threshold_above_every_score() -> None:
    result = _run(threshold=0.9999)
    assert _status(result)["threshold-nms"] == FAIL
    assert sum(len(image.boxes) for image in result.images) == 0


def test_nhwc_fed_to_an_nchw_model() -> None:
    result = _run(HEALTHY.replace("nchw", "nhwc"))
    assert _status(result)["layout"] == FAIL


def test_source_says_where_the_pipelines_part() -> None:
    """The source (here the same ONNX file on ONNX Runtime) agrees with the healthy pipeline;
    with the input range broken the pipelines part before the model."""
    from nnport.backends import make_runner

    broken = DiagnoseOptions(
        images=str(IMAGES), preprocess=HEALTHY.replace("scale=1/255", "scale=1"), limit=4
    )
    with make_runner("onnxruntime", load(MODEL)) as runner:
        source = lambda x: runner.infer({"input": x})  # noqa: E731
        healthy = diagnose(MODEL, DiagnoseOptions(images=str(IMAGES), limit=4), source)
        parted = diagnose(MODEL, broken, source)
    assert next(c for c in healthy.checks if c.name == "source").status == PASS
    assert healthy.parting_stage == ""
    assert next(c for c in parted.checks if c.name == "source").status == FAIL
    assert parted.parting_stage == "preprocessing or post-processing"


def test_cli_json_html_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "d.html"
    code = run(["diagnose", str(MODEL), "--images", str(IMAGES), "--limit", "3", "--json",
                "--html", str(page)])  # fmt: skip
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert {c["name"] for c in data["checks"]} >= {"input-range", "channel-order", "layout",
                                                  "output-finite", "score-distribution",
                                                  "decode-geometry", "threshold-nms"}  # fmt: skip
    text = page.read_text()
    assert text.count("<img") == 3 and "data:image/png;base64," in text
    bad = run(["diagnose", str(MODEL), "--images", str(IMAGES), "--limit", "3",
               "--score-threshold", "0.9999"])  # fmt: skip
    assert bad == 1
    assert run(["diagnose", str(MODEL), "--images", str(tmp_path / "none")]) == 2


def test_precision_check_runs_the_target_format() -> None:
    options = DiagnoseOptions(images=str(IMAGES), limit=4, precision="fp16")
    result = diagnose(MODEL, options)
    check = next(c for c in result.checks if c.name == "precision")
    assert check.status == PASS and "fp16" in check.reason
    assert check.evidence["boxes"] == check.evidence["fp32_boxes"] > 0


def test_result_round_trips_through_json() -> None:
    from nnport.results import dumps, loads

    result = _run()
    assert loads(DiagnoseResult, dumps(result)) == result
