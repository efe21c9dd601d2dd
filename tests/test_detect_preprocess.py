"""The preprocessing spec: parse/format round trip, numpy application, ONNX metadata, and the
Ascend AIPP and NNIE configs computing the same numbers as the spec."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir
import pytest

from nnport.errors import UsageError
from nnport.model.device_preprocess import aipp_config, nnie_lines
from nnport.model.preprocess import PreprocessSpec, resize_bilinear


def test_parse_format_round_trip() -> None:
    spec = PreprocessSpec.parse("rgb,letterbox=160,pad=114,scale=1/255,mean=0,std=1,nchw")
    assert spec.size == (160, 160) and spec.resize == "letterbox"
    assert spec.scale == pytest.approx(1 / 255)
    assert PreprocessSpec.parse(spec.format()) == spec
    other = PreprocessSpec.parse("bgr,stretch=96x128,scale=1/255,mean=0.485:0.456:0.406,"
                                 "std=0.229:0.224:0.225,nhwc,float16")  # fmt: skip
    assert other.size == (96, 128) and other.channels == "bgr" and other.layout == "nhwc"
    assert PreprocessSpec.parse(other.format()) == other


@pytest.mark.parametrize("bad", ["", "rgb,letterbox", "rgb,scale=abc", "cmyk", "mean=1:2"])
def test_parse_refuses_bad_specs(bad: str) -> None:
    with pytest.raises(UsageError):
        PreprocessSpec.parse(bad)


def test_metadata_round_trip() -> None:
    model = ir.Model(ir.Graph([], [], nodes=[]), ir_version=10)
    spec = PreprocessSpec.parse("bgr,letterbox=64,scale=1/255,mean=0.5,std=0.25")
    spec.to_metadata(model.metadata_props)
    assert PreprocessSpec.from_metadata(model.metadata_props) == spec


def test_letterbox_geometry_and_apply() -> None:
    spec = PreprocessSpec.parse("rgb,letterbox=64,pad=114,scale=1/255")
    image = np.full((32, 64, 3), 200, np.uint8)
    tensor, geo = spec.apply(image)
    assert tensor.shape == (1, 3, 64, 64)
    assert geo.pad_y == 16 and geo.content_h == 32 and geo.ratio_x == 1
    assert np.allclose(tensor[0, :, :16], 114 / 255) and np.allclose(tensor[0, :, 16:48], 200 / 255)
    boxes = np.array([[0, 16, 64, 48]], np.float32)
    assert np.allclose(geo.to_source(boxes), [[0, 0, 64, 32]])


def test_resize_bilinear_keeps_constant_and_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (20, 30, 3)).astype(np.float32)
    got = resize_bilinear(image, 40, 45)
    ref = torch.nn.functional.interpolate(
        torch.from_numpy(image.transpose(2, 0, 1))[None], size=(40, 45), mode="bilinear",
        align_corners=False,
    )[0].numpy().transpose(1, 2, 0)  # fmt: skip
    assert np.allclose(got, ref, atol=1e-3)


@pytest.mark.parametrize(
    "text",
    [
        "rgb,letterbox=64,pad=114,scale=1/255,mean=0,std=1,nchw",
        "rgb,letterbox=64,pad=0,scale=1/255,mean=0.485:0.456:0.406,std=0.229:0.224:0.225",
        "bgr,letterbox=64,pad=114,scale=1/255,mean=0.5,std=0.5",
    ],
)
@pytest.mark.parametrize("source_order", ["rgb", "bgr"])
def test_aipp_arithmetic_matches_spec(text: str, source_order: str) -> None:
    """The AIPP the device runs on the app's resized image equals the spec applied in numpy."""
    spec = PreprocessSpec.parse(text)
    rng = np.random.default_rng(1)
    source = rng.integers(0, 256, (32, 64, 3), dtype=np.uint8)  # an RGB photo, 2:1
    expected, geo = spec.apply(source)
    config = aipp_config(spec, (64, 64), source_order=source_order, source_hw=(32, 64))
    fed = source if source_order == "rgb" else source[:, :, ::-1]  # what the app hands AIPP
    assert (config.src_h, config.src_w) == (geo.content_h, geo.content_w)
    got = config.run(fed)
    pads = len({round(v, 9) for v in np.atleast_1d((spec.pad * spec.scale - np.array(spec.mean))
                                                    / np.array(spec.std))})  # fmt: skip
    inner = (slice(None), slice(None), slice(16, 48), slice(None))
    assert np.allclose(got[inner], expected[inner], atol=1e-5)
    if pads == 1:
        assert np.allclose(got, expected, atol=1e-5)
    text_cfg = config.text()
    assert "aipp_mode: static" in text_cfg and "input_format: RGB888_U8" in text_cfg
    assert f"rbuv_swap_switch: {'true' if source_order != spec.channels else 'false'}" in text_cfg
    assert "top_padding_size: 16" in text_cfg and "bottom_padding_size: 16" in text_cfg
    # the file's numbers are the ones run() used
    for i in range(3):
        assert f"var_reci_chn_{i}: {config.var_reci_chn[i]:.9g}" in text_cfg
        assert f"mean_chn_{i}: {config.mean_chn[i]}" in text_cfg


def test_nnie_lines() -> None:
    spec = PreprocessSpec.parse("bgr,letterbox=64,scale=1/255,mean=0.5,std=0.5")
    cfg, mean = nnie_lines(spec)
    assert "[RGB_order] BGR" in cfg and "[norm_type] 5" in cfg
    assert "[data_scale] 0.00784313725" in cfg
    assert mean == ["127.5", "127.5", "127.5"]
    plain, _ = nnie_lines(PreprocessSpec.parse("rgb,scale=1/255"))
    assert "[norm_type] 3" in plain and "[mean_file]" not in plain
