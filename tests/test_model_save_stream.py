"""nnport.model.save frames large weights by hand: the file must parse to what ir.save writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx_ir as ir
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import nnport
from nnport.errors import ModelSaveError
from nnport.model.io import _STREAM_RAW_BYTES


def _model(tmp_path: Path) -> Path:
    """Conv (large raw weight) -> Add (small raw bias) -> Reshape (int64_data shape), opset 13."""
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((64, 16, 5, 5)).astype(np.float32)  # 100 KiB: streamed
    assert weight.nbytes >= _STREAM_RAW_BYTES
    bias = rng.standard_normal((1, 64, 1, 1)).astype(np.float32)  # small: serialized normally
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [1, -1])  # int64_data, not raw
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w"], ["c"], pads=[2, 2, 2, 2]),
            helper.make_node("Add", ["c", "b"], ["a"]),
            helper.make_node("Reshape", ["a", "shape"], ["y"]),
        ],
        "stream",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4096])],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b"), shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.metadata_props.add(key="k", value="v")
    path = tmp_path / "src.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def test_save_parses_to_the_same_message_as_ir_save(tmp_path: Path) -> None:
    model = nnport.load(_model(tmp_path))
    model.graph.initializers["w"].const_value = ir.tensor(  # numpy-backed, not the loaded proto
        np.ascontiguousarray(model.graph.initializers["w"].const_value.numpy() * 2)  # type: ignore[union-attr]
    )
    ours = nnport.save(model, tmp_path / "ours.onnx")
    ir.save(model, tmp_path / "reference.onnx")
    parsed, reference = onnx.load(str(ours)), onnx.load(str(tmp_path / "reference.onnx"))
    assert parsed == reference
    assert [t.name for t in parsed.graph.initializer] == ["w", "b", "shape"]
    onnx.checker.check_model(str(ours), full_check=True)


def test_saved_model_runs_like_the_original(tmp_path: Path) -> None:
    source = _model(tmp_path)
    model = nnport.load(source)
    out = nnport.save(model, tmp_path / "out.onnx")
    feed = {"x": np.random.default_rng(1).standard_normal((1, 16, 8, 8)).astype(np.float32)}
    runs = [
        ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, feed)[0]
        for p in (source, out)
    ]
    np.testing.assert_array_equal(runs[0], runs[1])
    ir.save(model, tmp_path / "reference.onnx")  # loaded weights are streamed from their protos
    assert onnx.load(str(out)) == onnx.load(str(tmp_path / "reference.onnx"))


def test_loaded_weight_with_extra_fields_is_written_whole(tmp_path: Path) -> None:
    """A loaded weight proto with fields the streamed header does not rebuild (here a
    segment) goes through plain serialization and still round-trips."""
    proto = onnx.load(str(_model(tmp_path)))
    proto.graph.initializer[0].segment.begin = 0
    proto.graph.initializer[0].segment.end = 1
    proto.graph.initializer[0].doc_string = "conv weight"
    path = tmp_path / "segment.onnx"
    path.write_bytes(proto.SerializeToString())
    model = nnport.load(path, validate=False)
    out = nnport.save(model, tmp_path / "out.onnx")
    ir.save(model, tmp_path / "reference.onnx")
    parsed = onnx.load(str(out))
    assert parsed == onnx.load(str(tmp_path / "reference.onnx"))
    assert parsed.graph.initializer[0].doc_string == "conv weight"
    assert parsed.graph.initializer[0].HasField("segment")


def test_weight_whose_data_does_not_fit_its_shape_is_refused(tmp_path: Path) -> None:
    proto = onnx.load(str(_model(tmp_path)))
    proto.graph.initializer[0].raw_data = proto.graph.initializer[0].raw_data[:-4]
    path = tmp_path / "short.onnx"
    path.write_bytes(proto.SerializeToString())
    with pytest.raises(ModelSaveError, match=r"'w' holds .* bytes of data"):
        nnport.save(nnport.load(path, validate=False), tmp_path / "out.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["short.onnx", "src.onnx"]
