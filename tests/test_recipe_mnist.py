"""MNIST recipe end to end: IDX validation, train -> export -> evaluate agreement, determinism."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnport.results import loads

torch = pytest.importorskip("torch")

from nnport.data.idx import load_mnist  # noqa: E402
from nnport.recipes.checkpoint import save_checkpoint  # noqa: E402
from nnport.recipes.load import load_checkpoint  # noqa: E402
from nnport.recipes.mnist import MnistTrainConfig, save_mnist, train_mnist  # noqa: E402
from nnport.verify.evaluate import EvaluateResult  # noqa: E402

FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


@pytest.fixture(scope="module")
def checkpoint(mnist_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A briefly trained MNIST CNN (first 1,500 training images, one epoch)."""
    model, result = train_mnist(mnist_dir, MnistTrainConfig(epochs=1, limit=1500, seed=0))
    path = tmp_path_factory.mktemp("mnist") / "mnist.pt"
    save_mnist(model, result, path)
    assert result.test_accuracy > 0.75  # 1,500 images, one epoch: well above chance (10%)
    return path


@pytest.fixture(scope="module")
def dynamic_onnx(checkpoint: Path) -> Path:
    from nnport.recipes.export import ExportOptions, export

    model, info = load_checkpoint(checkpoint)
    out = checkpoint.with_name("mnist_dyn.onnx")
    export(model, out, ExportOptions(dynamic_batch=True), info=info)
    return out


def _copy_mnist(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for name in FILES:
        shutil.copy(src / name, dst / name)
    return dst


def test_checkpoint_records_architecture_shape_and_normalization(checkpoint: Path) -> None:
    model, info = load_checkpoint(checkpoint)
    assert info.architecture == "mnist_cnn"
    assert info.input_shape == (1, 1, 28, 28)
    assert info.mean == (0.1307,) and info.std == (0.3081,)
    layers = [type(m).__name__ for m in model]
    assert layers == [
        "Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d", "Dropout", "Flatten",
        "Linear", "ReLU", "Dropout", "Linear", "LogSoftmax",
    ]  # fmt: skip
    assert model[7].in_features == 9216 and model[10].out_features == 10


def test_train_export_evaluate_agree_on_every_test_image(
    cli, checkpoint: Path, dynamic_onnx: Path, mnist_dir: Path
) -> None:
    res = cli(
        "evaluate", dynamic_onnx, "--dataset", "mnist", "--data", mnist_dir,
        "--source", checkpoint, "--backend", "onnxruntime", "--json", "--strict",
    )  # fmt: skip
    assert res.code == 0, res.err
    result = loads(EvaluateResult, res.out)
    assert result.count == 10000
    ort = result.backends[0]
    assert ort.agreement_with_source == 1.0 and result.disagreement_count == 0
    assert ort.accuracy == result.source_accuracy
    assert ort.accuracy > 0.75
    # OpenVINO (f32) on a subset: the same predictions as torch on every image.
    res = cli(
        "evaluate", dynamic_onnx, "--data", mnist_dir, "--source", checkpoint,
        "--backend", "onnxruntime,openvino", "--limit", "2000", "--json", "--strict",
    )  # fmt: skip
    assert res.code == 0, res.err
    result = loads(EvaluateResult, res.out)
    assert [b.backend for b in result.backends] == ["onnxruntime", "openvino"]
    assert result.backends[1].config["precision"] == "f32"
    assert all(b.agreement_with_source == 1.0 for b in result.backends)
    assert result.count == 2000 and result.disagreement_count == 0


def test_evaluate_static_batch_models_and_ncnn(
    cli, checkpoint: Path, mnist_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "m.onnx"
    res = cli("export", checkpoint, "-o", out, "--shape", "1x1x28x28", "--shape", "8x1x28x28")
    assert res.code == 0, res.err
    one, eight = tmp_path / "m_1x1x28x28.onnx", tmp_path / "m_8x1x28x28.onnx"
    assert one.is_file() and eight.is_file() and not out.exists()
    # 8-image batches with a padded last batch (203 = 25 * 8 + 3), and batch-1 models via ncnn.
    for model, backends in ((eight, "onnxruntime"), (one, "onnxruntime,ncnn")):
        res = cli(
            "evaluate", model, "--data", mnist_dir, "--source", checkpoint,
            "--backend", backends, "--limit", "203", "--json", "--strict",
        )  # fmt: skip
        assert res.code == 0, res.err
        result = loads(EvaluateResult, res.out)
        assert all(b.agreement_with_source == 1.0 and b.count == 203 for b in result.backends)


def test_disagreements_are_listed_and_strict_fails(
    cli, checkpoint: Path, dynamic_onnx: Path, mnist_dir: Path, tmp_path: Path
) -> None:
    # A second source model: the same network with its last layer perturbed (seeded noise).
    model, info = load_checkpoint(checkpoint)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        model[10].weight.add_(0.5 * torch.randn(model[10].weight.shape, generator=generator))
    other = save_checkpoint(model, tmp_path / "other.pt", info)
    res = cli(
        "evaluate", dynamic_onnx, "--data", mnist_dir, "--source", other,
        "--limit", "500", "--json", "--strict",
    )  # fmt: skip
    assert res.code == 1
    result = loads(EvaluateResult, res.out)
    assert 0 < result.disagreement_count < 500
    src = load_checkpoint(other)[0]
    ort_model = load_checkpoint(checkpoint)[0]
    images = load_mnist(mnist_dir, "test", limit=500).images.astype(np.float32) / 255
    x = torch.from_numpy((images[:, None] - 0.1307) / 0.3081)
    with torch.no_grad():
        differ = np.flatnonzero((src(x).argmax(1) != ort_model(x).argmax(1)).numpy())
    assert list(result.disagreements) == differ.tolist()
    res = cli("evaluate", dynamic_onnx, "--data", mnist_dir, "--source", other, "--limit", "500")
    assert res.code == 0 and "differ on" in res.out


def test_training_is_deterministic_under_a_seed(mnist_dir: Path) -> None:
    config = MnistTrainConfig(epochs=1, limit=256, batch_size=64, seed=3, threads=1)
    threads = torch.get_num_threads()
    first, r1 = train_mnist(mnist_dir, config)
    assert r1.threads == 1 and torch.get_num_threads() == threads  # restored afterwards
    second, r2 = train_mnist(mnist_dir, config)
    for (name, a), (_, b) in zip(
        first.state_dict().items(), second.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    assert r1.test_accuracy == r2.test_accuracy


def test_train_cli_writes_checkpoint_and_json(cli, mnist_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "quick.pt"
    res = cli(
        "train", "mnist", "--data", mnist_dir, "--limit", "128", "--epochs", "1",
        "--batch-size", "64", "-o", out, "--json",
    )  # fmt: skip
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert data["recipe"] == "mnist" and data["train_samples"] == 128
    assert data["checkpoint"] == str(out) and out.is_file()
    assert 0.0 <= data["test_accuracy"] <= 1.0 and data["test_samples"] == 128


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("missing", "has no t10k-labels-idx1-ubyte.gz"),
        ("truncated-gzip", "corrupt or truncated"),
        ("truncated-body", "declares shape 10000x28x28"),
        ("bad-magic", "magic number"),
        ("count-mismatch", "10000 test images but 9999 labels"),
    ],
)
def test_corrupt_idx_files_give_one_line_errors(
    cli, mnist_dir: Path, tmp_path: Path, damage: str, message: str
) -> None:
    data = _copy_mnist(mnist_dir, tmp_path / "mnist")
    images, labels = data / "t10k-images-idx3-ubyte.gz", data / "t10k-labels-idx1-ubyte.gz"
    if damage == "missing":
        labels.unlink()
    elif damage == "truncated-gzip":
        raw = images.read_bytes()
        images.write_bytes(raw[: len(raw) // 2])
    elif damage == "truncated-body":
        images.write_bytes(gzip.compress(gzip.decompress(images.read_bytes())[:-100]))
    elif damage == "bad-magic":
        images.write_bytes(labels.read_bytes())  # a labels file where images belong
    else:
        raw = gzip.decompress(labels.read_bytes())
        labels.write_bytes(gzip.compress(raw[:4] + (9999).to_bytes(4, "big") + raw[8:-1]))
    out = tmp_path / "m.pt"
    res = cli("train", "mnist", "--data", data, "--limit", "64", "-o", out)
    assert res.code == 2
    assert message in " ".join(res.err.split()), res.err
    assert "Traceback" not in res.err and not out.exists()


def test_bad_data_folders(cli, dynamic_onnx: Path, tmp_path: Path) -> None:
    res = cli("evaluate", dynamic_onnx, "--data", tmp_path / "nowhere")
    assert res.code == 2 and "does not exist" in res.err
    (tmp_path / "empty").mkdir()
    res = cli("train", "mnist", "--data", tmp_path / "empty", "-o", tmp_path / "x.pt")
    assert res.code == 2 and "has no train-images-idx3-ubyte.gz" in " ".join(res.err.split())
    res = cli("evaluate", dynamic_onnx, "--dataset", "cifar", "--data", tmp_path / "empty")
    assert res.code == 2 and "unknown dataset" in res.err


def test_cli_help_works_without_torch() -> None:
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['torchvision'] = None\n"
        "from nnport.cli.app import run\n"
        "assert run(['--help']) == 0\n"
        "assert run(['train', 'mnist', '--help']) == 0\n"
        "sys.exit(run(['train', 'mnist', '--data', '.', '-o', 'x.pt']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'nnport[torch]'" in " ".join(proc.stderr.split())
