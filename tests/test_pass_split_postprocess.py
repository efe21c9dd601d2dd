"""split-postprocess: a conv net + NonMaxSuppression is cut into a device part and host
post-processing; device then host reproduces the original on ONNX Runtime."""

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
from nnport.passes import FixOptions, FixResult, fix
from nnport.passes.base import Decline
from nnport.passes.split_postprocess import host_region, split_model
from nnport.results import loads, to_jsonable


def _run(model: ir.Model, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    proto = ir.serde.serialize_model(model).SerializeToString()
    session = ort.InferenceSession(proto, providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()})


@pytest.fixture
def detector() -> ir.Model:
    return ir.serde.deserialize_model(detector_model())


def test_region_is_nms_and_what_only_it_reads(detector: ir.Model) -> None:
    seeds, region = host_region(detector)
    assert [n.name for n in seeds] == ["nms"]
    names = {n.name for n in region}
    # the reshapes/sigmoid feeding only NMS move to the host; the convs stay on the device
    assert {"nms", "gcol", "sq", "sqb", "gbox", "tb", "rb", "ts", "rs", "sig", "ts2"} == names


def test_split_structure_and_numerics(detector: ir.Model) -> None:
    seeds, region = host_region(detector)
    parts = split_model(detector, seeds, region)
    assert parts.cut == ["b0", "s0"]
    assert [v.name for v in parts.device.graph.outputs] == ["b0", "s0"]
    assert {n.op_type for n in parts.device.graph} == {"Conv", "Relu"}
    assert [v.name for v in parts.host.graph.inputs] == ["b0", "s0"]
    assert [v.name for v in parts.host.graph.outputs] == ["det", "sel"]
    assert "NonMaxSuppression" in {n.op_type for n in parts.host.graph}
    assert "Conv" not in {n.op_type for n in parts.host.graph}
    assert parts.report.host_nodes == 11 and parts.report.device_nodes == 4
    x = {"x": np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)}
    want = _run(detector, x)
    b0, s0 = _run(parts.device, x)
    got = _run(parts.host, {"b0": b0, "s0": s0})
    assert want[1].shape[0] > 0  # NMS kept some boxes: the comparison means something
    for a, b in zip(want, got, strict=True):
        np.testing.assert_array_equal(a, b)


def test_fix_splits_by_default_and_verifies_the_pipeline(detector: ir.Model) -> None:
    assert not check(detector, "ascend310").deployable
    result = fix(detector, "ascend310")
    assert result.deployable and result.verified
    assert result.split is not None and result.split.verified
    assert "NonMaxSuppression 'nms'" in result.split.reason
    assert result.split.host_mac_share == 0.0  # every Conv stays on the device
    assert check(result.model, "ascend310").deployable
    assert result.host_model is not None
    assert "device part then host post-processing reproduce" in result.verification
    text = json.dumps(to_jsonable(result.without_model()))
    again = loads(FixResult, text)
    assert again.split == result.split and again.host_model is None


def test_opt_out_keeps_one_model(detector: ir.Model) -> None:
    result = fix(detector, "ascend310", options=FixOptions(split_postprocess=False))
    assert not result.deployable and result.split is None and result.host_model is None
    nms = next(r for r in result.remaining if r.op == "NonMaxSuppression")
    assert "splitting the post-processing off to the host" in nms.reason


def test_no_split_when_the_target_runs_the_region(detector: ir.Model) -> None:
    result = fix(detector, "onnxruntime")
    assert result.deployable and result.split is None


def test_declines_when_the_region_starts_at_the_inputs() -> None:
    model = ir.serde.deserialize_model(detector_model(nms_on_input=True))
    seeds, region = host_region(model)
    with pytest.raises(Decline, match="device part would compute nothing"):
        split_model(model, seeds, region)
    result = fix(model, "ascend310")
    assert not result.deployable and result.split is None
    assert any(r.op == "NonZero" for r in result.remaining)


def test_cli_writes_device_and_host_models(cli: Any, tmp_path: Path) -> None:
    src = tmp_path / "det.onnx"
    onnx.save(detector_model(), src)
    out = tmp_path / "det_ascend.onnx"
    result = cli("fix", src, "-t", "ascend310", "-o", out)
    assert result.code == 0, result.err
    text = " ".join(result.out.split())
    assert "post-processing runs on the host" in text
    host = tmp_path / "det_ascend.post.onnx"
    assert host.is_file() and "det_ascend.post.onnx" in "".join(result.out.split())
    assert f"--model={out} " in result.out
    x = {"x": np.random.default_rng(2).standard_normal((1, 3, 8, 8)).astype(np.float32)}
    b0, s0 = _run(load(out), x)
    np.testing.assert_array_equal(_run(load(host), {"b0": b0, "s0": s0})[0], _run(load(src), x)[0])
    data = json.loads(cli("fix", src, "-t", "ascend310", "-o", out, "--json").out)
    assert data["split"]["host_output"] == str(host) and data["split"]["cut"] == ["b0", "s0"]
    result = cli("fix", src, "-t", "ascend310", "-o", tmp_path / "one.onnx",
                 "--no-split-postprocess")  # fmt: skip
    assert result.code == 1 and not (tmp_path / "one.post.onnx").exists()


def test_nms_inside_an_if_branch_goes_to_the_host_with_its_captures() -> None:
    model = ir.serde.deserialize_model(detector_model(nms_in_if=True))
    seeds, region = host_region(model)
    assert [n.name for n in seeds] == ["nms_if"]
    assert {"top", "any", "nms_if", "rb", "ts2"} <= {n.name for n in region}
    parts = split_model(model, seeds, region)
    assert parts.cut == ["b0", "s0"]
    assert {n.op_type for n in parts.device.graph} == {"Conv", "Relu"}
    x = {"x": np.random.default_rng(4).standard_normal((1, 3, 8, 8)).astype(np.float32)}
    want = _run(model, x)
    b0, s0 = _run(parts.device, x)
    got = _run(parts.host, {"b0": b0, "s0": s0})
    assert want[1].shape[0] > 0
    for a, b in zip(want, got, strict=True):
        np.testing.assert_array_equal(a, b)
    result = fix(model, "ascend310")
    assert result.deployable and result.verified and result.split is not None
