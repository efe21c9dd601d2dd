"""The detector recipe end to end on a tiny dataset (one epoch: it runs, writes a checkpoint
that exports), and the NMS graph `export --nms` writes against host NMS on the bundled weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nnport.cli.app import run

torch = pytest.importorskip("torch")
pytest.importorskip(
    "pycocotools", reason="mAP needs the detect extra: pip install 'nnport[detect]'"
)
ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "examples" / "shapes_detector.pt"
IMAGES = ROOT / "examples" / "shapes"


def test_train_one_epoch_and_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    assert run(["data", "shapes", "-o", str(data), "--images", "24", "--size", "64"]) == 0
    capsys.readouterr()
    out = tmp_path / "det.pt"
    code = run(["train", "detector", "--data", str(data), "-o", str(out), "--epochs", "1",
                "--preprocess", "rgb,letterbox=64,scale=1/255", "--threads", "1", "--json"])  # fmt: skip
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["train_samples"] == 24 and result["test_samples"] == 10
    assert 0.0 <= result["test_accuracy"] <= 1.0 and result["settings"]["metric"] == "mAP@0.5"
    onnx_path = tmp_path / "det.onnx"
    assert run(["export", str(out), "-o", str(onnx_path)]) == 0
    from nnport.model.io import load
    from nnport.model.preprocess import PreprocessSpec

    model = load(onnx_path)
    assert [v.name for v in model.graph.outputs] == ["boxes", "scores"]
    spec = PreprocessSpec.from_metadata(model.metadata_props)
    assert spec is not None and spec.size == (64, 64) and spec.scale == pytest.approx(1 / 255)
    assert json.loads(model.metadata_props["nnport.detector"])["kind"] == "pre"


def test_train_refuses_a_folder_without_splits(tmp_path: Path) -> None:
    assert run(["train", "detector", "--data", str(tmp_path), "-o", str(tmp_path / "x.pt")]) == 2
    assert not (tmp_path / "x.pt").exists()


def test_export_nms_matches_host_nms(tmp_path: Path) -> None:
    """The NonMaxSuppression tail keeps the boxes the host's class-aware NMS keeps."""
    from nnport.backends import make_runner
    from nnport.data.detection import list_images, read_rgb
    from nnport.model.io import load
    from nnport.model.preprocess import PreprocessSpec
    from nnport.verify.detections import DetectionOptions, decode, find_layout, match

    pre, post = tmp_path / "pre.onnx", tmp_path / "post.onnx"
    assert run(["export", str(CHECKPOINT), "-o", str(pre)]) == 0
    assert run(["export", str(CHECKPOINT), "-o", str(post), "--nms"]) == 0
    pre_model, post_model = load(pre), load(post)
    assert [v.name for v in post_model.graph.outputs] == ["detections"]
    assert "NonMaxSuppression" in {n.op_type for n in post_model.graph}
    spec = PreprocessSpec.from_metadata(pre_model.metadata_props)
    assert spec is not None
    options = DetectionOptions()
    total = 0
    with make_runner("onnxruntime", pre_model) as a, make_runner("onnxruntime", post_model) as b:
        for path in list_images(IMAGES)[:6]:
            x, _ = spec.apply(read_rgb(path))
            out_a, out_b = a.infer({"input": x}), b.infer({"input": x})
            host = decode(out_a, find_layout(out_a, pre_model.metadata_props), options)[0]
            graph = decode(out_b, find_layout(out_b, post_model.metadata_props), options)[0]
            m = match(host, graph, 0.99)
            assert not m.missed and not m.extra, path
            assert np.allclose(sorted(host.scores), sorted(graph.scores), atol=1e-6)
            total += len(host)
    assert total >= 6
