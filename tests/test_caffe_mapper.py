"""nnie_mapper.cfg beside the Caffe model: every field the mapper reads, filled from the model's
preprocessing; image_list.txt from --calibrate; mean.txt per channel."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from graphs import parse
from nnport.backends.caffe.mapper import mapper_files

IMAGE = """
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1,3,32,32] x) => (float[1,3,32,32] y) { y = Relu(x) }
"""


def _fields(cfg: str) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for line in cfg.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        match = re.fullmatch(r"\[(\w+)\] (\S+)", line)
        assert match, f"not a mapper line: {line!r}"
        fields.setdefault(match.group(1), []).append(match.group(2))
    return fields


def test_imagenet_normalization_becomes_mean_file_and_data_scale() -> None:
    model = parse(IMAGE)
    model.metadata_props["nnport.mean"] = json.dumps([0.485, 0.456, 0.406])
    model.metadata_props["nnport.std"] = json.dumps([0.229, 0.224, 0.225])
    config, files = mapper_files(model, {"x": (1, 3, 32, 32)})
    fields = _fields(files["nnie_mapper.cfg"])
    assert fields["prototxt_file"] == ["./model.prototxt"]
    assert fields["caffemodel_file"] == ["./model.caffemodel"]
    assert fields["image_type"] == ["1"] and fields["norm_type"] == ["5"]
    assert fields["mean_file"] == ["./mean.txt"] and fields["RGB_order"] == ["RGB"]
    assert fields["compile_mode"] == ["0"] and fields["net_type"] == ["0"]
    assert fields["image_list"] == ["./image_list.txt"]
    assert float(fields["data_scale"][0]) == pytest.approx(1 / (255 * 0.226), rel=1e-6)
    np.testing.assert_allclose([float(v) for v in files["mean.txt"].split()],
                               [123.675, 116.28, 103.53], rtol=1e-6)  # fmt: skip
    (group,) = config.inputs
    assert not group.exact and any("differs per channel" in note for note in config.notes)


def test_uniform_std_is_exact_and_int16_is_high_precision() -> None:
    model = parse(IMAGE)
    model.metadata_props["nnport.mean"] = json.dumps([0.5])
    model.metadata_props["nnport.std"] = json.dumps([0.5])
    config, files = mapper_files(model, {"x": (1, 3, 32, 32)}, precision="int16")
    fields = _fields(files["nnie_mapper.cfg"])
    assert fields["compile_mode"] == ["1"] and config.inputs[0].exact
    # (pixel / 255 - 0.5) / 0.5 == (pixel - 127.5) * (2 / 255)
    assert float(fields["data_scale"][0]) == pytest.approx(2 / 255)
    assert files["mean.txt"].split() == ["127.5"] * 3


def test_no_recorded_preprocessing_feeds_raw_pixels_and_says_so() -> None:
    config, files = mapper_files(parse(IMAGE), {"x": (1, 3, 32, 32)})
    fields = _fields(files["nnie_mapper.cfg"])
    assert fields["norm_type"] == ["0"] and fields["mean_file"] == ["null"]
    assert "mean.txt" not in files and "image_list.txt" not in files
    assert any("no preprocessing" in n for n in config.notes)
    assert any("image_list.txt" in n for n in config.notes)


def test_feature_map_input_is_image_type_0() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[1,1,1,128] v) => (float[1,1,1,128] y) { y = Relu(v) }
    """)
    _, files = mapper_files(model, {"v": (1, 1, 1, 128)})
    assert _fields(files["nnie_mapper.cfg"])["image_type"] == ["0"]


def test_calibrate_lists_the_images(tmp_path: Path) -> None:
    for name in ("b.png", "a.jpg", "sub/c.JPEG", "notes.txt"):
        path = tmp_path / "cal" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    config, files = mapper_files(parse(IMAGE), {"x": (1, 3, 32, 32)}, calibrate=tmp_path / "cal")
    listed = files["image_list.txt"].splitlines()
    assert [Path(p).name for p in listed] == ["a.jpg", "b.png", "c.JPEG"]
    assert all(Path(p).is_absolute() for p in listed) and config.calibration_images == 3


def test_empty_calibration_folder_exits_2_and_writes_nothing(tmp_path: Path, cli: Any) -> None:
    import onnx

    source = tmp_path / "m.onnx"
    onnx.save(onnx.parser.parse_model(IMAGE), source)
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out"
    run = cli("convert", source, "--to", "caffe", "-o", out, "--calibrate", tmp_path / "empty")
    assert run.code == 2 and "holds no images" in run.err and not out.exists()
    run = cli("convert", source, "--to", "caffe", "-o", out, "--calibrate", tmp_path)
    assert run.code == 2  # only m.onnx there
    (tmp_path / "cal").mkdir()
    (tmp_path / "cal" / "one.png").write_bytes(b"x")
    run = cli("convert", source, "--to", "caffe", "-o", out, "--calibrate", tmp_path / "cal")
    assert run.code == 0, run.err
    assert (out / "image_list.txt").read_text().strip().endswith("one.png")


def test_the_preprocessing_spec_sets_order_mean_and_scale() -> None:
    preprocess = pytest.importorskip("nnport.model.preprocess")
    model = parse(IMAGE)
    spec = preprocess.PreprocessSpec(channels="bgr", scale=1 / 255, mean=(0.5,), std=(0.25,))
    spec.to_metadata(model.metadata_props)
    config, files = mapper_files(model, {"x": (1, 3, 32, 32)})
    fields = _fields(files["nnie_mapper.cfg"])
    assert fields["RGB_order"] == ["BGR"] and fields["norm_type"] == ["5"]
    assert float(fields["data_scale"][0]) == pytest.approx(4 / 255)
    assert files["mean.txt"].split() == ["127.5"] * 3 and config.inputs[0].exact
