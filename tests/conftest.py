"""Shared fixtures: bundled examples, a real torchvision export, MNIST data and a CLI driver."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    """The bundled example models (examples/*.onnx)."""
    return EXAMPLES


def _mnist_dir() -> Path:
    override = os.environ.get("NNPORT_MNIST_DIR")
    return Path(override) if override else ROOT.parent / "shared" / "data" / "mnist"


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The original MNIST IDX files (../shared/data/mnist, or $NNPORT_MNIST_DIR)."""
    path = _mnist_dir()
    if not (path / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(
            f"MNIST IDX files not found in {path}: these tests need the four original files; "
            "fetch and verify them with `nnport data mnist -o DIR`, then set NNPORT_MNIST_DIR=DIR "
            "(README: MNIST data)"
        )
    return path


@pytest.fixture(scope="session")
def resnet18_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A torchvision ResNet-18 (random weights, seed 0) exported by torch.onnx.export, opset 17."""
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    path = tmp_path_factory.mktemp("resnet18") / "resnet18.onnx"
    torch.onnx.export(
        model,
        (torch.randn(1, 3, 224, 224),),
        str(path),
        input_names=["input"],
        output_names=["logits"],
        opset_version=17,
        dynamo=False,
    )
    return path


@dataclass
class CliResult:
    """Exit code and captured streams of one in-process CLI run."""

    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run ``nnport ARGS`` in-process and return its exit code, stdout and stderr."""
    from nnport.cli.app import run

    def invoke(*args: str | Path) -> CliResult:
        capsys.readouterr()
        code = run([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke
