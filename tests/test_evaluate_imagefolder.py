"""``nnport evaluate --dataset imagefolder``: class mapping by name, metadata, clear dataset errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnport.results import loads

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")

from nnport.recipes.checkpoint import CheckpointInfo, save_checkpoint  # noqa: E402
from nnport.recipes.classifier import build_classifier  # noqa: E402
from nnport.recipes.export import ExportOptions, export  # noqa: E402
from nnport.verify.evaluate import EvaluateResult  # noqa: E402

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def _folder(root: Path, classes: dict[str, tuple[int, int, int]], n: int = 4) -> Path:
    for name, colour in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (20 + i, 16), colour).save(root / name / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An untrained 3-class mobilenet_v3_small classifier at 16x16, checkpoint and ONNX."""
    torch.manual_seed(0)
    model = build_classifier("mobilenet_v3_small", 3, hidden=8).eval()
    info = CheckpointInfo(
        architecture="classifier",
        arch_kwargs={"backbone": "mobilenet_v3_small", "num_classes": 3, "hidden": 8},
        input_shape=(1, 3, 16, 16),
        mean=MEAN,
        std=STD,
        classes=("blue", "green", "red"),
    )
    base = tmp_path_factory.mktemp("tiny")
    ckpt = save_checkpoint(model, base / "tiny.pt", info)
    onnx_path = base / "tiny.onnx"
    export(model, onnx_path, ExportOptions(dynamic_batch=True), info=info)
    return ckpt, onnx_path


def test_labels_follow_the_model_classes_by_name(
    cli, exported: tuple[Path, Path], tmp_path: Path
) -> None:
    ckpt, onnx_path = exported
    # The folder holds only two of the three classes; labels map by class name, not position.
    data = _folder(tmp_path / "data", {"green": (0, 200, 0), "red": (200, 0, 0)})
    res = cli(
        "evaluate", onnx_path, "--dataset", "imagefolder", "--data", data,
        "--source", ckpt, "--json", "--strict",
    )  # fmt: skip
    assert res.code == 0, res.err
    result = loads(EvaluateResult, res.out)
    assert result.classes == ("blue", "green", "red") and result.count == 8
    assert result.mean == MEAN and result.std == STD
    ort = result.backends[0]
    # Recompute the accuracy independently: labels 1 (green) and 2 (red).
    model = torch.load(ckpt, weights_only=True)
    assert model["classes"] == ["blue", "green", "red"]
    x = np.stack(
        [
            np.asarray(Image.open(p).convert("RGB").resize((16, 16), Image.Resampling.BILINEAR))
            for c in ("green", "red")
            for p in sorted((data / c).glob("*.png"))
        ]
    ).transpose(0, 3, 1, 2)
    from nnport.recipes.load import load_checkpoint

    module, _ = load_checkpoint(ckpt)
    xt = (torch.from_numpy(x).float() / 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(
        STD
    ).view(1, 3, 1, 1)
    with torch.no_grad():
        preds = module(xt).argmax(1).numpy()
    labels = np.array([1] * 4 + [2] * 4)
    assert ort.correct == int((preds == labels).sum())
    assert ort.agreement_with_source == 1.0


def test_unknown_class_folder_is_a_dataset_error(
    cli, exported: tuple[Path, Path], tmp_path: Path
) -> None:
    data = _folder(tmp_path / "data", {"red": (200, 0, 0), "purple": (120, 0, 120)})
    res = cli("evaluate", exported[1], "--dataset", "imagefolder", "--data", data)
    assert res.code == 2
    assert "purple" in res.err and "not among the model's classes" in " ".join(res.err.split())


def test_mnist_dataset_refuses_a_model_of_another_shape(
    cli, exported: tuple[Path, Path], mnist_dir: Path
) -> None:
    res = cli("evaluate", exported[1], "--dataset", "mnist", "--data", mnist_dir)
    assert res.code == 2 and "MNIST has 1x28x28" in res.err
