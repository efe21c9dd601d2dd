"""Safe loading: bad files give ModelLoadError / exit 2 with one line; external data is confined."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import nnport
from nnport.errors import ModelLoadError, ModelSaveError


def _external_model(tmp_path: Path, location: str, *, write_data: bool = True) -> Path:
    """A Gemm model whose weight lives in external data at ``location``."""
    weight = np.arange(64, dtype=np.float32).reshape(8, 8)
    tensor = numpy_helper.from_array(weight, "w")
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(weight.nbytes))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "ext",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
        [tensor],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    if write_data:
        (tmp_path / "weights.bin").write_bytes(weight.tobytes())
    return path


def test_loads_external_data_beside_the_model(tmp_path: Path) -> None:
    path = _external_model(tmp_path, "weights.bin")
    model = nnport.load(path)
    summary = nnport.inspect(model)
    assert summary.external_data_files == ("weights.bin",)
    assert summary.parameter_count == 64
    weight = model.graph.initializers["w"].const_value
    assert weight is not None
    np.testing.assert_array_equal(weight.numpy(), np.arange(64, dtype=np.float32).reshape(8, 8))


@pytest.mark.parametrize(
    ("location", "words"),
    [
        ("../secret.bin", "escapes the model's folder"),
        ("/etc/passwd", "absolute path"),
        ("sub/../../secret.bin", "escapes the model's folder"),
    ],
)
def test_refuses_external_data_outside_the_folder(
    tmp_path: Path, cli, location: str, words: str
) -> None:
    inner = tmp_path / "inner"
    inner.mkdir()
    (tmp_path / "secret.bin").write_bytes(b"\0" * 256)
    path = _external_model(inner, location, write_data=False)
    with pytest.raises(ModelLoadError, match=words):
        nnport.load(path)
    result = cli("inspect", path)
    assert result.code == 2
    assert words in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert "Traceback" not in result.err


def test_refuses_symlink_pointing_outside(tmp_path: Path, cli) -> None:
    inner = tmp_path / "inner"
    inner.mkdir()
    outside = tmp_path / "outside.bin"
    outside.write_bytes(np.arange(64, dtype=np.float32).tobytes())
    os.symlink(outside, inner / "weights.bin")
    path = _external_model(inner, "weights.bin", write_data=False)
    result = cli("inspect", path)
    assert result.code == 2
    assert "points outside" in result.err


def test_missing_external_data_is_a_clear_error(tmp_path: Path, cli) -> None:
    path = _external_model(tmp_path, "weights.bin", write_data=False)
    result = cli("inspect", path)
    assert result.code == 2
    assert "does not exist" in result.err and "weights.bin" in result.err


def test_truncated_external_data_is_a_clear_error(tmp_path: Path) -> None:
    path = _external_model(tmp_path, "weights.bin")
    (tmp_path / "weights.bin").write_bytes(b"\0" * 10)
    with pytest.raises(ModelLoadError, match="truncated"):
        nnport.load(path)


def test_external_data_over_2gb(tmp_path: Path) -> None:
    """A weight at an offset past 2 GiB in a sparse data file loads lazily and inspects."""
    rows = 8
    big = 2**31 + 4096
    tensor = numpy_helper.from_array(np.zeros((rows, rows), np.float32), "w")
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "big.bin"), ("offset", str(big)), ("length", "256")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    filler = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, rows])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "big",
        [filler],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, rows])],
        [tensor],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / "big.onnx"
    path.write_bytes(model.SerializeToString())
    with open(tmp_path / "big.bin", "wb") as handle:  # sparse: no 2 GiB actually written
        handle.truncate(big + 256)
    loaded = nnport.load(path)
    weight = loaded.graph.initializers["w"].const_value
    assert weight is not None
    assert weight.numpy().shape == (rows, rows)
    assert nnport.inspect(loaded).external_data_files == ("big.bin",)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "empty"),
        (bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)), "not"),
        (b"this is a text file, not a model\n", "not"),
    ],
    ids=["empty", "random-bytes", "text"],
)
def test_bad_files_exit_2_with_one_line(tmp_path: Path, cli, content: bytes, words: str) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    result = cli("inspect", path)
    assert result.code == 2
    assert words in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert "Traceback" not in result.err
    assert path.read_bytes() == content


def test_truncated_real_model_exit_2(tmp_path: Path, cli, resnet18_export: Path) -> None:
    data = resnet18_export.read_bytes()
    for cut in (len(data) // 2, len(data) - 7, 100):
        path = tmp_path / f"cut{cut}.onnx"
        path.write_bytes(data[:cut])
        result = cli("inspect", path)
        assert result.code == 2, (cut, result.err)
        assert len(result.err.strip().splitlines()) == 1
        assert "Traceback" not in result.err


def test_missing_file(cli, tmp_path: Path) -> None:
    result = cli("inspect", tmp_path / "nope.onnx")
    assert result.code == 2
    assert "no such file" in result.err


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    from nnport.cli.app import run

    path = tmp_path / "bad.onnx"
    path.write_bytes(b"junk")
    with pytest.raises(ModelLoadError):
        run(["--debug", "inspect", str(path)], debug=True)


def test_save_is_atomic_and_never_overwrites_the_source(tmp_path: Path, examples_dir: Path) -> None:
    source = tmp_path / "demo.onnx"
    source.write_bytes((examples_dir / "demo.onnx").read_bytes())
    before = source.read_bytes()
    model = nnport.load(source)
    with pytest.raises(ModelSaveError, match="overwrite"):
        nnport.save(model, source)
    assert source.read_bytes() == before
    out = tmp_path / "copy.onnx"
    nnport.save(model, out)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".nnport-")] == []
    onnx.checker.check_model(onnx.load(out))
    assert nnport.inspect(nnport.load(out)).op_histogram == nnport.inspect(model).op_histogram


def test_save_into_missing_folder(tmp_path: Path, examples_dir: Path) -> None:
    model = nnport.load(examples_dir / "cast_int64.onnx")
    with pytest.raises(ModelSaveError, match="does not exist"):
        nnport.save(model, tmp_path / "no" / "such" / "out.onnx")


def _matmul(x_dims: list[int | str], x_type: int = TensorProto.FLOAT) -> onnx.ModelProto:
    weight = numpy_helper.from_array(np.arange(64, dtype=np.float32).reshape(8, 8), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", x_type, x_dims)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def _externalize(model: onnx.ModelProto, folder: Path, **info: str) -> None:
    tensor = model.graph.initializer[0]
    (folder / "w.bin").write_bytes(tensor.raw_data)
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in {"location": "w.bin", **info}.items():
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value


def _bad_offset(folder: Path) -> bytes:
    model = _matmul([1, 8])
    _externalize(model, folder, offset="abc", length="256")
    return model.SerializeToString()


def _bad_length(folder: Path) -> bytes:
    model = _matmul([1, 8])
    _externalize(model, folder, offset="0", length="1.5")
    return model.SerializeToString()


def _short_file(folder: Path) -> bytes:
    model = _matmul([1, 8])
    _externalize(model, folder)  # no length: the tensor's shape says 256 bytes
    (folder / "w.bin").write_bytes(b"\0" * 100)
    return model.SerializeToString()


def _non_utf8(field: bytes) -> Callable[[Path], bytes]:
    def build(folder: Path) -> bytes:
        model = _matmul([1, 8])
        model.graph.node[0].name = "NN"
        model.graph.name = "GG"
        model.producer_name = "PP"
        data = model.SerializeToString()
        assert data.count(field) == 1
        return data.replace(field, b"\xff\xfe")

    return build


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (_bad_offset, "offset 'abc' is not a non-negative integer"),
        (_bad_length, "length '1.5' is not a non-negative integer"),
        (_short_file, "the file has only 100 bytes"),
        (lambda f: _matmul([10**12, 8]).SerializeToString(), "no such tensor can exist"),
        (lambda f: _matmul([-3, 8]).SerializeToString(), "negative dimension"),
        (lambda f: _matmul([1, 8], TensorProto.UNDEFINED).SerializeToString(), "UNDEFINED"),
        (_non_utf8(b"NN"), "not valid UTF-8"),
        (_non_utf8(b"GG"), "not valid UTF-8"),
        (_non_utf8(b"PP"), "not valid UTF-8"),
        (lambda f: _matmul([1, 8]).SerializeToString().replace(b"\x01x", b"\x01\xff"),
         "not valid UTF-8"),
    ],
    ids=["offset-not-int", "length-not-int", "file-shorter-than-tensor", "dim-1e12",
         "dim-negative", "undefined-dtype", "node-name", "graph-name", "producer",
         "input-name"],
)  # fmt: skip
@pytest.mark.parametrize("verb", ["inspect", "check", "fix", "compare"])
def test_malformed_models_are_exit_2_with_one_line(
    tmp_path: Path, cli, build: Callable[[Path], bytes], words: str, verb: str
) -> None:
    """Each of these used to pass one verb and crash another (exit 3) or be called deployable."""
    path = tmp_path / "bad.onnx"
    path.write_bytes(build(tmp_path))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    args: dict[str, list[str | Path]] = {
        "inspect": ["inspect", path],
        "check": ["check", path, "-t", "ascend310"],
        "fix": ["fix", path, "-t", "ascend310", "-o", tmp_path / "out.onnx"],
        "compare": ["compare", path],
    }
    result = cli(*args[verb])
    assert result.code == 2, result.err
    assert words in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert "Traceback" not in result.err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
