"""convert --to caffe: the prototxt parses with nnport's Caffe schema, every NNIE layer runs in
OpenCV's Caffe importer and matches ONNX Runtime, bisect maps blobs back, failures name the node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from google.protobuf import text_format
from onnx import TensorProto, helper, numpy_helper

from graphs import parse
from nnport.backends.caffe import nnport_caffe_pb2 as pb
from nnport.backends.caffe.convert import build_net, convert_to_caffe
from nnport.backends.caffe.shape_ops import _nearest_index
from nnport.backends.convert import ConvertResult
from nnport.model import load
from nnport.results import loads
from nnport.verify.compare import CompareOptions, compare

F = TensorProto.FLOAT


def _layers_model(path: Path) -> Path:
    """One of every op the nnie profile lists, in shapes a CNN has them."""
    rng = np.random.default_rng(0)

    def init(name: str, array: Any) -> onnx.TensorProto:
        return numpy_helper.from_array(np.asarray(array), name)

    f32 = np.float32
    inits = [
        init("w1", (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(f32)),
        init("b1", rng.standard_normal(8).astype(f32)),
        init("g", (1 + 0.1 * rng.standard_normal(8)).astype(f32)),
        init("be", (0.1 * rng.standard_normal(8)).astype(f32)),
        init("mu", (0.1 * rng.standard_normal(8)).astype(f32)),
        init("var", (1 + rng.random(8)).astype(f32)),
        init("slope", (0.1 * rng.random((8, 1, 1))).astype(f32)),
        init("sc", rng.standard_normal((1, 8, 1, 1)).astype(f32)),
        init("bias4", rng.standard_normal((8, 1, 1)).astype(f32)),
        init("wd", (rng.standard_normal((8, 4, 2, 2)) * 0.3).astype(f32)),
        init("roi", np.zeros(0, f32)),
        init("scales", np.array([1, 1, 2, 2], f32)),
        init("split", np.array([4, 4], np.int64)),
        init("st", np.array([1], np.int64)),
        init("en", np.array([5], np.int64)),
        init("ax", np.array([2], np.int64)),
        init("fc", (rng.standard_normal((64, 10)) * 0.1).astype(f32)),
        init("fcb", rng.standard_normal(10).astype(f32)),
        init("half", np.array(0.5, f32)),
        init("shape", np.array([1, 8, 24], np.int64)),
        init("mm", (rng.standard_normal((24, 5)) * 0.2).astype(f32)),
    ]
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        n("BatchNormalization", ["c1", "g", "be", "mu", "var"], ["bn"], name="bn1"),
        n("PRelu", ["bn", "slope"], ["pr"], name="prelu"),
        n("MaxPool", ["pr"], ["mp"], name="pool", kernel_shape=[3, 3], strides=[2, 2],
          pads=[1, 1, 1, 1]),
        n("Mul", ["mp", "sc"], ["m1"], name="mul_channel"),
        n("Add", ["m1", "bias4"], ["a1"], name="add_channel"),
        n("Mul", ["a1", "half"], ["m2"], name="mul_scalar"),
        n("Sigmoid", ["m2"], ["sg"], name="sigmoid"),
        n("Mul", ["m2", "sg"], ["sw"], name="swish"),
        n("ConvTranspose", ["sw", "wd"], ["dc"], name="deconv", strides=[2, 2]),
        n("Resize", ["sw", "roi", "scales"], ["up"], name="resize", mode="nearest"),
        n("Split", ["up", "split"], ["s0", "s1"], name="split", axis=1),
        n("Concat", ["dc", "s1", "s0"], ["cat"], name="concat", axis=1),
        n("Tanh", ["cat"], ["th"], name="tanh"),
        n("Slice", ["th", "st", "en", "ax"], ["sl"], name="slice"),
        n("AveragePool", ["sl"], ["ap"], name="avg", kernel_shape=[2, 2], strides=[2, 2]),
        n("Transpose", ["ap"], ["tp"], name="permute", perm=[0, 2, 3, 1]),
        n("Relu", ["tp"], ["r"], name="relu"),
        n("GlobalAveragePool", ["sw"], ["gp"], name="gap"),
        n("Flatten", ["gp"], ["fl"], name="flatten"),
        n("Concat", ["fl"] * 8, ["fl8"], name="concat8", axis=1),
        n("Gemm", ["fl8", "fc", "fcb"], ["logits"], name="fc"),
        n("Softmax", ["logits"], ["prob"], name="softmax", axis=1),
        n("Reshape", ["r", "shape"], ["rs"], name="reshape"),
        n("MatMul", ["rs", "mm"], ["proj"], name="matmul"),
    ]  # fmt: skip
    outputs = [helper.make_tensor_value_info(name, F, None) for name in ("prob", "proj", "s1")]
    graph = helper.make_graph(
        nodes, "layers", [helper.make_tensor_value_info("x", F, [1, 3, 16, 16])], outputs, inits
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    model = onnx.shape_inference.infer_shapes(model)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def layers_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _layers_model(tmp_path_factory.mktemp("caffe") / "layers.onnx")


def test_prototxt_parses_back_with_blob_names_equal_to_onnx_tensors(layers_model: Path) -> None:
    result = build_net(load(layers_model))
    net = pb.NetParameter()
    text_format.Parse(result.prototxt, net)
    assert list(net.input) == ["x"] and list(net.input_shape[0].dim) == [1, 3, 16, 16]
    names = {layer.name for layer in net.layer}
    assert {"c1", "bn", "pr", "mp", "dc", "up", "cat", "prob", "proj"} <= names
    types = {layer.name: layer.type for layer in net.layer}
    assert types["bn/bn"] == "BatchNorm" and types["bn"] == "Scale"
    assert types["up"] == "Deconvolution" and types["tp"] == "Permute"
    assert types["m2"] == "Power" and types["m1"] == "Scale" and types["fl"] == "Flatten"
    weights = pb.NetParameter()
    weights.ParseFromString(result.caffemodel)
    conv = next(layer for layer in weights.layer if layer.name == "c1")
    assert list(conv.blobs[0].shape.dim) == [8, 3, 3, 3] and len(conv.blobs[0].data) == 216
    table = {row.node: row.types for row in result.layers}
    assert table["bn1"] == ("BatchNorm", "Scale") and table["softmax"] == ("Softmax",)
    assert len(result.layers) == 25  # one row per ONNX node


def test_every_layer_matches_onnxruntime_in_opencv(layers_model: Path) -> None:
    pytest.importorskip("cv2", reason="the caffe extra (opencv-python-headless<5) is not installed")
    model = load(layers_model)
    options = CompareOptions(rtol=1e-3, atol=1e-4, samples=2, bisect=True)
    result = compare(model, backend="caffe", options=options)
    assert result.passed, [(o.name, o.max_abs_err) for o in result.outputs]
    assert [o.name for o in result.outputs] == ["prob", "proj", "s1"]
    assert "opencv" in result.candidate.config["runtime"]
    assert result.bisect is not None and not result.bisect.found
    assert result.bisect.compared == result.bisect.total >= 20


def test_upsampling_deconvolution_of_ones_is_onnx_nearest_resize() -> None:
    # The arithmetic of the layer nnport writes for nearest Resize, without any runtime:
    # a depthwise Deconvolution, kernel = stride = factor, weights 1, copies each pixel into a
    # factor x factor block, which is ONNX's nearest index map for whole factors.
    x = np.random.default_rng(1).standard_normal((1, 2, 3, 4)).astype(np.float32)
    fh, fw = 2, 3
    deconv = np.zeros((1, 2, 3 * fh, 4 * fw), np.float32)
    for i in range(3):
        for j in range(4):
            deconv[:, :, i * fh : (i + 1) * fh, j * fw : (j + 1) * fw] += x[
                :, :, i : i + 1, j : j + 1
            ]
    for mode, rounding in [("half_pixel", "round_prefer_floor"), ("asymmetric", "floor"),
                           ("pytorch_half_pixel", "round_prefer_floor")]:  # fmt: skip
        rows = _nearest_index(3 * fh, 3, float(fh), mode, rounding)
        cols = _nearest_index(4 * fw, 4, float(fw), mode, rounding)
        np.testing.assert_array_equal(x[:, :, rows][:, :, :, cols], deconv)
    assert not np.array_equal(
        _nearest_index(6, 3, 2.0, "align_corners", "floor"), [0, 0, 1, 1, 2, 2]
    )


def test_cli_writes_the_folder_and_the_node_table(
    layers_model: Path, tmp_path: Path, cli: Any
) -> None:
    out = tmp_path / "caffe"
    run = cli("convert", layers_model, "--to", "caffe", "-o", out, "--json")
    assert run.code == 0, run.err
    result = loads(ConvertResult, run.out)
    assert sorted(p.name for p in out.iterdir()) == [
        "model.caffemodel", "model.prototxt", "nnie_mapper.cfg"
    ]  # fmt: skip
    assert sorted(Path(f).name for f in result.files) == sorted(p.name for p in out.iterdir())
    assert any(row.node == "bn1" and row.layers == ("bn/bn", "bn") for row in result.layers)
    assert any("ceil_mode" in note or "image_list" in note for note in result.notes)


UNSUPPORTED = """
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1,4,8,8] x) => (float[1,4,8,8] y) {
        r = Relu(x)
        y = Erf(r)
    }
"""


def test_unsupported_node_is_named_and_nothing_is_written(tmp_path: Path, cli: Any) -> None:
    source = tmp_path / "erf.onnx"
    onnx.save(onnx.parser.parse_model(UNSUPPORTED), source)
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.prototxt").write_text("old")
    run = cli("convert", source, "--to", "caffe", "-o", out)
    assert run.code == 1
    assert "Erf" in run.err and len(run.err.strip().splitlines()) == 1
    assert [p.name for p in out.iterdir()] == ["model.prototxt"]
    assert (out / "model.prototxt").read_text() == "old"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".nnport")]


def test_corrupt_model_exits_2(tmp_path: Path, cli: Any) -> None:
    source = tmp_path / "broken.onnx"
    source.write_bytes(b"\x08\x07not an onnx model")
    run = cli("convert", source, "--to", "caffe", "-o", tmp_path / "out")
    assert run.code == 2 and not (tmp_path / "out").exists()


def test_asymmetric_padding_is_refused_with_the_node(tmp_path: Path) -> None:
    from nnport.errors import BackendError

    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[1,2,6,6] x) => (float[1,2,6,6] y) {
            y = MaxPool<kernel_shape=[2,2], pads=[0,0,1,1]>(x)
        }
    """)
    with pytest.raises(BackendError, match=r"'<unnamed>' \(MaxPool\).*asymmetric"):
        convert_to_caffe(model, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_generated_schema_matches_the_proto(tmp_path: Path) -> None:
    import subprocess
    import sys

    pytest.importorskip("grpc_tools", reason="grpcio-tools regenerates the schema")
    here = Path(pb.__file__).parent
    # protoc in its own process: in-process it shares the interpreter with torch and ray.
    args = [f"-I{here}", f"--python_out={tmp_path}", f"--pyi_out={tmp_path}"]
    run = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", *args, str(here / "nnport_caffe.proto")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    for name in ("nnport_caffe_pb2.py", "nnport_caffe_pb2.pyi"):
        generated = (tmp_path / name).read_text()
        assert generated == (here / name).read_text(), f"rerun scripts/gen_caffe_proto ({name})"
