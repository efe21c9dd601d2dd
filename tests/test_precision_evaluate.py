"""evaluate --precision fp32,fp16,int8 on the MNIST recipe model: accuracy per format, agreement
with fp32, the images that change class; int8 (calibrated on the training split) within half a
point of fp32."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from nnport.results import dumps, loads
from nnport.verify.evaluate import EvaluateResult

pytest.importorskip("torch")

from nnport.recipes.export import ExportOptions, export
from nnport.recipes.load import load_checkpoint
from nnport.recipes.mnist import MnistTrainConfig, save_mnist, train_mnist

LIMIT = 3000


@pytest.fixture(scope="module")
def mnist_onnx(mnist_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The MNIST recipe's CNN, briefly trained (1,500 images, one epoch), exported."""
    model, result = train_mnist(mnist_dir, MnistTrainConfig(epochs=1, limit=1500, seed=0))
    folder = tmp_path_factory.mktemp("mnist-precision")
    save_mnist(model, result, folder / "mnist.pt")
    loaded, info = load_checkpoint(folder / "mnist.pt")
    out = folder / "mnist.onnx"
    export(loaded, out, ExportOptions(dynamic_batch=True), info=info)
    return out


def test_evaluate_fp32_fp16_int8(mnist_onnx: Path, mnist_dir: Path, cli: Callable) -> None:
    run = cli(
        "evaluate", mnist_onnx, "--data", mnist_dir, "--limit", str(LIMIT),
        "--precision", "fp32,fp16,int8", "--json",
    )  # fmt: skip
    assert run.code == 0, run.err
    result = loads(EvaluateResult, run.out)
    assert loads(EvaluateResult, dumps(result)) == result
    rows = {b.precision: b for b in result.backends}
    assert list(rows) == ["fp32", "fp16", "int8"]
    fp32, fp16, int8 = rows["fp32"], rows["fp16"], rows["int8"]
    assert fp32.accuracy > 0.75 and fp32.agreement_with_fp32 == 1.0
    assert fp16.precision_mode == int8.precision_mode == "emulated"
    assert abs(fp16.accuracy - fp32.accuracy) < 0.002
    assert abs(int8.accuracy - fp32.accuracy) <= 0.005  # within 0.5 point
    # int8 moves some images but far from all; each listed image really changed class
    assert 0 < int8.changed_vs_fp32 < 0.05 * LIMIT
    assert int8.agreement_with_fp32 == pytest.approx(1 - int8.changed_vs_fp32 / LIMIT)
    assert set(int8.changed_images) <= set(result.disagreements)
    assert fp16.changed_vs_fp32 <= int8.changed_vs_fp32


def test_evaluate_text_says_the_precision(mnist_onnx: Path, mnist_dir: Path, cli: Callable) -> None:
    run = cli(
        "evaluate", mnist_onnx, "--data", mnist_dir, "--limit", "300",
        "--precision", "fp32,bf16,int8", "--calibrator", "percentile",
        "--calibration-samples", "64",
    )  # fmt: skip
    assert run.code == 0, run.err
    assert run.out.lstrip().startswith("evaluate")  # the calibrators' chatter stays off stdout
    assert "bf16" in run.out and "emulated" in run.out and "int8" in run.out


def test_evaluate_refuses_an_unknown_precision(
    mnist_onnx: Path, mnist_dir: Path, cli: Callable
) -> None:
    run = cli("evaluate", mnist_onnx, "--data", mnist_dir, "--precision", "fp32,int4")
    assert run.code == 2 and "unknown precision 'int4'" in run.err
    run = cli("evaluate", mnist_onnx, "--data", mnist_dir, "--precision", "int8",
              "--calibrator", "kl")  # fmt: skip
    assert run.code == 2 and "unknown calibrator 'kl'" in run.err
