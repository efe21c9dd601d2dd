"""Keras/TensorFlow sources: a Keras network built here is exported with tf2onnx, verified
against Keras (NHWC kept or NCHW inputs), written as shape buckets with a manifest, ported to
ascend310, and its accuracy source is Keras itself; a corrupted file is exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nnport.cli.app import main

keras = pytest.importorskip("keras", reason="the nnport[tensorflow] extra is not installed")
pytest.importorskip("tf2onnx", reason="the nnport[tensorflow] extra is not installed")


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ResNet-style block with the seed recipe's head (GAP, Dense ReLU, Dense softmax)."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    y = keras.layers.Conv2D(8, 3, padding="same")(x)
    y = keras.layers.BatchNormalization()(y)
    x = keras.layers.ReLU()(keras.layers.Add()([x, y]))
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(16, activation="relu")(x)
    out = keras.layers.Dense(5, activation="softmax")(x)
    model = keras.Model(inp, out)
    model.compile("adam", "categorical_crossentropy")
    rng = np.random.default_rng(0)
    model.fit(rng.random((16, 32, 32, 3)), np.eye(5)[rng.integers(0, 5, 16)], epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("keras") / "roses.keras"
    model.save(path)
    return path


def test_export_verified_against_keras_then_ready_on_ascend310(
    keras_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "roses.onnx"
    assert main(["export", str(keras_file), "-o", str(out), "--layout", "nchw", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["framework"] == "keras" and result["models"][0]["input_shape"] == [1, 3, 32, 32]
    assert result["models"][0]["max_abs_diff"] < 1e-4
    assert main(["port", str(out), "-t", "ascend310", "-o", str(tmp_path / "port")]) == 0
    assert "READY" in capsys.readouterr().out


def test_several_shapes_write_buckets_and_a_manifest(
    keras_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "roses.onnx"
    args = ["export", str(keras_file), "-o", str(out), "--shape", "1x32x32x3"]
    assert main([*args, "--shape", "4x32x32x3"]) == 0
    manifest = json.loads((tmp_path / "buckets.json").read_text())
    files = [b["file"] for b in manifest["buckets"]]
    assert files == ["roses_1x32x32x3.onnx", "roses_4x32x32x3.onnx"]
    assert all((tmp_path / f).exists() for f in files) and manifest["source_sha256"]
    capsys.readouterr()
    # port takes the manifest: every bucket ported, and gears named where one model serves all
    args = ["port", str(tmp_path / "buckets.json"), "-t", "ascend310", "-o", str(tmp_path / "p")]
    assert main([*args, "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert [b["exit_code"] for b in done["buckets"]] == [0, 0]
    assert "--batch-gears 1,4" in done["gears_note"]
    assert (tmp_path / "p" / "roses_4x32x32x3" / "report.json").exists()
    # compare picks the bucket by input shape
    manifest = str(tmp_path / "buckets.json")
    assert main(["compare", manifest, "-s", "4x32x32x3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"].endswith("roses_4x32x32x3.onnx")
    assert main(["compare", manifest, "-s", "2x32x32x3"]) == 2


def test_corrupted_h5_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "model.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    assert main(["export", str(bad), "-o", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a readable Keras model" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "m.onnx").exists()


def test_evaluate_reports_agreement_with_the_keras_source(
    mnist_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keras.utils.set_random_seed(0)
    inp = keras.Input((28, 28, 1), name="digit")
    x = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(10)(x))
    source = tmp_path / "digits.keras"
    model.save(source)
    onnx_path = tmp_path / "digits.onnx"
    assert main(["export", str(source), "-o", str(onnx_path), "--layout", "nchw"]) == 0
    capsys.readouterr()
    args = ["evaluate", str(onnx_path), "--data", str(mnist_dir), "--limit", "64",
            "--source", str(source), "--json"]  # fmt: skip
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    # the same images through Keras (fed NHWC) and ONNX Runtime (NCHW) give the same classes
    assert result["backends"][0]["agreement_with_source"] == 1.0
