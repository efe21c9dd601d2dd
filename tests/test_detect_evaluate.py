"""`evaluate --task detect` on the bundled detector and images: COCO mAP per runtime (the same
within half a point), YOLO txt and COCO JSON labels alike, and torch as the source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nnport.cli.app import run

pytest.importorskip(
    "pycocotools", reason="mAP needs the detect extra: pip install 'nnport[detect]'"
)
pytest.importorskip("PIL")
ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "examples" / "shapes_detector.onnx"
CHECKPOINT = ROOT / "examples" / "shapes_detector.pt"
IMAGES = ROOT / "examples" / "shapes"


def test_map_agrees_across_runtimes_and_label_formats() -> None:
    pytest.importorskip("openvino")
    from nnport.verify.detect_eval import DetectEvalOptions, evaluate_detections

    result = evaluate_detections(
        MODEL, DetectEvalOptions(data=str(IMAGES), backends=("onnxruntime", "openvino"))
    )
    assert result.labels == "yolo" and result.count >= 8
    maps = [run.map50 for run in result.backends]
    assert min(maps) >= 0.8, maps
    assert max(maps) - min(maps) <= 0.005
    assert abs(result.backends[0].map50_95 - result.backends[1].map50_95) <= 0.005
    coco = evaluate_detections(
        MODEL, DetectEvalOptions(data=str(IMAGES / "annotations.json"), backends=("onnxruntime",))
    )
    assert coco.labels == "coco"
    assert coco.backends[0].map50 == pytest.approx(result.backends[0].map50, abs=1e-9)


def test_ncnn_agrees() -> None:
    pytest.importorskip("ncnn")
    from nnport.verify.detect_eval import DetectEvalOptions, evaluate_detections

    result = evaluate_detections(
        MODEL, DetectEvalOptions(data=str(IMAGES), backends=("onnxruntime", "ncnn"))
    )
    ort, ncnn = result.backends
    assert abs(ort.map50 - ncnn.map50) <= 0.005 and abs(ort.map50_95 - ncnn.map50_95) <= 0.005


def test_cli_with_torch_source(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    code = run(["evaluate", str(MODEL), "--task", "detect", "--data", str(IMAGES),
                "--source", str(CHECKPOINT), "--json", "--strict"])  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert code == 0, data
    (ort,) = data["backends"]
    assert abs(data["source_map50"] - ort["map50"]) <= 0.005
    assert ort["agreement_with_source"] == 1.0 and data["changed_count"] == 0


def test_cli_refuses_unlabelled_folders(tmp_path: Path) -> None:
    assert run(["evaluate", str(MODEL), "--task", "detect", "--data", str(tmp_path)]) == 2
    assert run(["evaluate", str(MODEL), "--task", "segment", "--data", str(IMAGES)]) == 2


def test_map_per_precision() -> None:
    from nnport.verify.detect_eval import DetectEvalOptions, evaluate_detections

    result = evaluate_detections(
        MODEL, DetectEvalOptions(data=str(IMAGES), precisions=("fp32", "fp16"))
    )
    fp32, fp16 = result.backends
    assert (fp32.precision, fp16.precision) == ("fp32", "fp16")
    assert abs(fp32.map50 - fp16.map50) <= 0.005
    assert fp16.agreement_with_source is not None  # measured against the first (fp32) run
