"""`port -t ascend310` on the bundled detector exported with NMS: NMS goes to the host, the
AIPP config is written from the model's preprocessing spec (and named in the ATC command), and
the device part is compared by boxes after host NMS on real images."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from nnport.cli.app import run

pytest.importorskip("torch")
pytest.importorskip("PIL")
ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "examples" / "shapes_detector.pt"
IMAGES = ROOT / "examples" / "shapes"


def test_port_ascend_writes_aipp_and_matches_boxes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from nnport.data.detection import list_images, read_rgb
    from nnport.model.device_preprocess import aipp_config
    from nnport.model.preprocess import PreprocessSpec

    model = tmp_path / "det_nms.onnx"
    assert run(["export", str(CHECKPOINT), "-o", str(model), "--nms"]) == 0
    spec = PreprocessSpec.parse("rgb,letterbox=160,pad=114,scale=1/255,mean=0,std=1,nchw")
    batch = [spec.apply(read_rgb(p))[0] for p in list_images(IMAGES)[:3]]
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, input=np.concatenate(batch[:1]))
    capsys.readouterr()
    code = run(["port", str(model), "-t", "ascend310", "-o", str(tmp_path / "out"),
                "--inputs", str(inputs), "--iterations", "0", "--json"])  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert code == 0, result["stages"]
    assert result["host_output"].endswith(".post.onnx")
    (cfg_path,) = result["device_preprocess"]
    assert (
        cfg_path.endswith(".aipp.cfg") and f"--insert_op_conf={cfg_path}" in result["atc_command"]
    )
    text = Path(cfg_path).read_text()
    values = dict(re.findall(r"^\s*(\w+): (\S+)$", text, flags=re.M))
    expected = aipp_config(spec, (160, 160))
    assert values["input_format"] == "RGB888_U8" and values["rbuv_swap_switch"] == "false"
    assert int(values["src_image_size_w"]) == 160 and int(values["mean_chn_0"]) == 0
    assert float(values["var_reci_chn_0"]) == pytest.approx(1 / 255)
    assert expected.text() == text
    # the device part (everything up to the head's last Conv) compares tensor by tensor
    assert all(c["passed"] for c in result["compares"]) and result["compares"]
    # device part then host part, on real images, keep the original's boxes
    from nnport.backends import make_runner
    from nnport.model.io import load
    from nnport.verify.detections import DetectionAccumulator, DetectionOptions, find_layout

    original = load(model)
    device, host = load(result["output"]), load(result["host_output"])
    host_inputs = [v.name for v in host.graph.inputs if v.name not in host.graph.initializers]
    acc = None
    with (
        make_runner("onnxruntime", original) as whole,
        make_runner("onnxruntime", device) as dev,
        make_runner("onnxruntime", host) as post,
    ):
        for x in batch:
            expected = whole.infer({"input": x})
            middle = dev.infer({"input": x})
            feeds = {n: middle.get(n, x) for n in host_inputs}
            got = post.infer(feeds)
            if acc is None:
                layout = find_layout(expected, original.metadata_props)
                assert layout is not None and layout.kind == "post"
                acc = DetectionAccumulator(layout, DetectionOptions())
            acc.add(expected, got)
    assert acc is not None
    det = acc.result()
    assert det.passed and det.reference_boxes >= 3 and det.matched == det.reference_boxes


def test_fix_writes_device_preprocessing(tmp_path: Path) -> None:
    model = ROOT / "examples" / "shapes_detector.onnx"
    assert run(["fix", str(model), "-t", "ascend310", "-o", str(tmp_path / "a.onnx")]) == 0
    assert "aipp_mode: static" in (tmp_path / "a.aipp.cfg").read_text()
    assert run(["fix", str(model), "-t", "nnie", "-o", str(tmp_path / "n.onnx")]) in (0, 1)
    cfg = (tmp_path / "n.nnie.cfg").read_text()
    assert "[RGB_order] RGB" in cfg and "[data_scale] 0.00392156863" in cfg
