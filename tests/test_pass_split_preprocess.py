"""split-preprocess: input normalization the target lacks (NNIE has no Sub/Div) goes to a host
model in front of the device part; the parts in a row reproduce the original on ONNX Runtime."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx_ir as ir
import onnxruntime as ort
import pytest

from detector_graph import detector_model
from nnport.check import check
from nnport.model.io import load
from nnport.passes import fix
from nnport.passes.base import Decline
from nnport.passes.split_preprocess import pre_region, split_pre


def _run(model: ir.Model, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    proto = ir.serde.serialize_model(model).SerializeToString()
    session = ort.InferenceSession(proto, providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()})


X = {"x": np.random.default_rng(5).standard_normal((1, 3, 8, 8)).astype(np.float32)}


def test_region_stops_at_the_first_conv_and_the_split_is_exact() -> None:
    model = ir.serde.deserialize_model(detector_model(normalize=True, nms=False))
    region = pre_region(model)
    assert {n.name for n in region} == {"norm_sub", "norm_div"}
    parts = split_pre(model, region)
    assert parts.cut == ["xn"] and parts.nodes == 2
    assert [v.name for v in parts.host.graph.outputs] == ["xn"]
    assert [v.name for v in parts.device.graph.inputs] == ["xn"]
    assert {n.op_type for n in parts.device.graph} == {"Conv", "Relu"}
    (xn,) = _run(parts.host, X)
    np.testing.assert_array_equal(_run(parts.device, {"xn": xn})[0], _run(model, X)[0])


def test_fix_for_nnie_splits_pre_only_when_the_target_lacks_it() -> None:
    model = ir.serde.deserialize_model(detector_model(normalize=True, nms=False))
    assert not check(model, "nnie").deployable
    result = fix(model, "nnie")
    assert result.deployable and result.verified
    assert result.split is not None and result.split.pre_nodes == 2
    assert result.host_model is None and result.pre_model is not None
    assert "host pre-processing then device part reproduce" in result.verification
    assert check(result.model, "nnie").deployable
    # ascend310 has Sub and Div: nothing is split off there
    assert fix(model, "ascend310").split is None


def test_pre_and_post_together(cli: Any, tmp_path: Path) -> None:
    src, out = tmp_path / "det.onnx", tmp_path / "det_nnie.onnx"
    onnx.save(detector_model(normalize=True), src)
    result = cli("fix", src, "-t", "nnie", "-o", out, "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["split"]["pre_output"].endswith("det_nnie.pre.onnx")
    assert data["split"]["host_output"].endswith("det_nnie.post.onnx")
    assert "host pre-processing then device part then host post-processing" in data["verification"]
    pre, dev, post = (
        load(tmp_path / "det_nnie.pre.onnx"),
        load(out),
        load(tmp_path / "det_nnie.post.onnx"),
    )
    (xn,) = _run(pre, X)
    b0, s0 = _run(dev, {"xn": xn})
    got = _run(post, {"b0": b0, "s0": s0})
    for a, b in zip(_run(load(src), X), got, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    text = " ".join(cli("fix", src, "-t", "nnie", "-o", out).out.split())
    assert "pre- and post-processing run on the host" in text


def test_declines_when_pre_processing_is_an_output() -> None:
    model = ir.serde.deserialize_model(detector_model(normalize=True, nms=False))
    model.graph.outputs.append(next(n for n in model.graph if n.name == "norm_div").outputs[0])
    with pytest.raises(Decline, match="is a model output"):
        split_pre(model, pre_region(model))


def test_no_split_when_the_device_part_would_still_not_deploy() -> None:
    proto = detector_model(normalize=True, nms=False)
    proto.graph.node.append(onnx.helper.make_node("Erf", ["s0"], ["e"], name="erf"))
    proto.graph.output[0].name = "e"  # NNIE has no Erf and nnport no decomposition for it
    model = ir.serde.deserialize_model(proto)
    result = fix(model, "nnie")
    assert not result.deployable and result.split is None and result.pre_model is None
    assert {"Sub", "Div", "Erf"} <= {r.op for r in result.remaining}
