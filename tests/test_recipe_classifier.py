"""Transfer-learning classifier recipe on a generated image folder: train, export, evaluate."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from nnport.results import loads

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
Image = pytest.importorskip("PIL.Image")
ImageDraw = pytest.importorskip("PIL.ImageDraw")

from nnport.recipes.load import load_checkpoint  # noqa: E402
from nnport.verify.evaluate import EvaluateResult  # noqa: E402

SHAPES = {
    "circle_red": (220, 40, 40),
    "square_green": (40, 190, 60),
    "triangle_blue": (50, 70, 220),
}


def _draw(kind: str, colour: tuple[int, int, int], rng: random.Random, size: int = 48) -> Image:
    background = tuple(rng.randint(150, 255) for _ in range(3))
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    r = rng.randint(size // 5, size // 3)
    cx, cy = rng.randint(r, size - r), rng.randint(r, size - r)
    jitter = tuple(max(0, min(255, c + rng.randint(-30, 30))) for c in colour)
    if kind.startswith("circle"):
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=jitter)
    elif kind.startswith("square"):
        draw.rectangle((cx - r, cy - r, cx + r, cy + r), fill=jitter)
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=jitter)
    return image


def make_folder(root: Path, per_class: int, seed: int) -> Path:
    """ROOT/CLASS/NNN.png: coloured shapes on random light backgrounds."""
    rng = random.Random(seed)
    for kind, colour in SHAPES.items():
        (root / kind).mkdir(parents=True)
        for i in range(per_class):
            _draw(kind, colour, rng).save(root / kind / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("shapes")
    return make_folder(base / "train", 20, 0), make_folder(base / "test", 10, 1)


@pytest.fixture(scope="module")
def backbone_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A resnet18 state_dict file (seeded random weights) standing in for pretrained ones."""
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


def test_classifier_trains_exports_and_evaluates(
    cli, shapes: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    train_dir, test_dir = shapes
    ckpt = tmp_path / "shapes.pt"
    res = cli(
        "train", "classifier", "--data", train_dir, "--backbone", "resnet18",
        "--image-size", "32", "--epochs", "5", "--batch-size", "16", "--hidden", "64",
        "-o", ckpt, "--json",
    )  # fmt: skip
    assert res.code == 0, res.err
    assert "random weights" in caplog.text  # no --weights: a warning, never a download
    trained = json.loads(res.out)
    assert trained["train_samples"] == 48 and trained["test_samples"] == 12
    model, info = load_checkpoint(ckpt)
    assert info.classes == tuple(sorted(SHAPES)) and info.input_shape == (1, 3, 32, 32)
    assert type(model[1]).__name__ == "AdaptiveAvgPool2d" and model[3].out_features == 64
    onnx_path = tmp_path / "shapes.onnx"
    assert cli("export", ckpt, "-o", onnx_path, "--dynamic-batch").code == 0
    res = cli(
        "evaluate", onnx_path, "--dataset", "imagefolder", "--data", test_dir,
        "--source", ckpt, "--json", "--strict",
    )  # fmt: skip
    assert res.code == 0, res.err
    result = loads(EvaluateResult, res.out)
    assert result.count == 30 and result.classes == tuple(sorted(SHAPES))
    assert all(b.agreement_with_source == 1.0 for b in result.backends)
    # Three classes: chance is 33%; the recipe must beat it by a wide margin.
    assert result.backends[0].accuracy >= 0.7, result


def test_frozen_backbone_keeps_loaded_weights(
    cli,
    shapes: tuple[Path, Path],
    backbone_weights: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ckpt = tmp_path / "frozen.pt"
    res = cli(
        "train", "classifier", "--data", shapes[0], "--backbone", "resnet18",
        "--weights", backbone_weights, "--freeze", "--image-size", "32", "--epochs", "1",
        "--hidden", "32", "-o", ckpt,
    )  # fmt: skip
    assert res.code == 0, res.err
    assert "random weights" not in caplog.text
    model, _ = load_checkpoint(ckpt)
    original = torch.load(backbone_weights, weights_only=True)
    trunk = model[0].state_dict()
    # The trunk holds resnet18's layers minus avgpool/fc: conv1, bn1, relu, maxpool, layer1-4.
    assert torch.equal(trunk["0.weight"], original["conv1.weight"])
    assert torch.equal(trunk["7.1.conv2.weight"], original["layer4.1.conv2.weight"])
    assert torch.equal(trunk["1.running_mean"], original["bn1.running_mean"])


def test_bad_image_folders(cli, tmp_path: Path, shapes: tuple[Path, Path]) -> None:
    out = tmp_path / "x.pt"
    args = ("train", "classifier", "--backbone", "resnet18", "--image-size", "32", "-o", out)
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.new("RGB", (8, 8)).save(flat / "a.png")
    res = cli(*args, "--data", flat)
    assert res.code == 2 and "no class sub-folders" in res.err
    broken = tmp_path / "broken"
    for name in ("a", "b"):
        (broken / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (8, 8)).save(broken / name / f"{i}.png")
    (broken / "b" / "9.png").write_bytes(b"not a png")
    res = cli(*args, "--data", broken)
    assert res.code == 2 and "cannot read image" in res.err and "9.png" in res.err
    assert not out.exists()
    (broken / "b" / "9.png").unlink()
    res = cli(*args, "--data", broken, "--backbone", "no_such_net")
    assert res.code == 2 and "unknown backbone" in res.err
    res = cli(*args, "--data", broken, "--weights", tmp_path / "missing.pth")
    assert res.code == 2 and "no such weights file" in res.err


def test_export_module_factory_with_weights(cli, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "tiny_factory.py").write_text(
        "import torch\n"
        "def make():\n"
        "    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),"
        " torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import tiny_factory

    torch.manual_seed(1)
    weights = tmp_path / "tiny.pth"
    torch.save(tiny_factory.make().state_dict(), weights)
    out = tmp_path / "tiny.onnx"
    res = cli(
        "export", "tiny_factory:make", "--weights", weights, "-o", out,
        "--shape", "1x3x16x16", "--shape", "2x3x20x20", "--json",
    )  # fmt: skip
    assert res.code == 0, res.err
    paths = [m["path"] for m in json.loads(res.out)["models"]]
    assert paths == [str(tmp_path / "tiny_1x3x16x16.onnx"), str(tmp_path / "tiny_2x3x20x20.onnx")]
    import onnx

    shape = onnx.load(paths[1]).graph.input[0].type.tensor_type.shape
    assert [d.dim_value for d in shape.dim] == [2, 3, 20, 20]
    # No input shape recorded and none given: a usage error, and nothing written.
    res = cli("export", "tiny_factory:make", "-o", tmp_path / "none.onnx")
    assert res.code == 2 and "--shape" in res.err and not (tmp_path / "none.onnx").exists()
    # A shape the module cannot take: the export fails cleanly and writes nothing.
    res = cli("export", "tiny_factory:make", "-o", tmp_path / "bad.onnx", "--shape", "1x5x16x16")
    assert res.code == 2 and "export failed" in res.err
    assert not list(tmp_path.glob("bad*"))
    res = cli("export", "tiny_factory:nope", "-o", tmp_path / "n.onnx", "--shape", "1x3x8x8")
    assert res.code == 2 and "no callable 'nope'" in res.err
