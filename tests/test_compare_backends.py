"""compare: OpenVINO and ncnn against ONNX Runtime on real exports; torch and reference runners."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nnport.model import load
from nnport.results import loads
from nnport.verify.compare import CompareOptions, CompareResult, compare

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")


def _calibrated(module: Any, shape: tuple[int, ...]) -> Any:
    """Random weights with BatchNorm statistics from random data, so activations stay O(1)."""
    for sub in module.modules():
        if isinstance(sub, torch.nn.BatchNorm2d):
            sub.momentum = None
            sub.reset_running_stats()
    module.train()
    with torch.no_grad():
        for _ in range(2):
            module(torch.randn(*shape))
    return module.eval()


@pytest.fixture(scope="session")
def mobilenet_v3(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """torchvision MobileNet-V3-Small (random, BN calibrated) exported at 1x3x96x96, and the module."""
    torch.manual_seed(0)
    module = _calibrated(torchvision.models.mobilenet_v3_small(weights=None), (4, 3, 96, 96))
    path = tmp_path_factory.mktemp("mobilenet") / "mobilenet_v3_small.onnx"
    torch.onnx.export(
        module,
        (torch.randn(1, 3, 96, 96),),
        str(path),
        input_names=["input"],
        output_names=["logits"],
        opset_version=17,
        dynamo=False,
    )
    return path, module


class _SsdLiteHead(torch.nn.Module):  # type: ignore[misc]
    """SSDlite's backbone and head: the part a detector deploys (box decoding and NMS stay on CPU)."""

    def __init__(self, detector: Any) -> None:
        super().__init__()
        self.backbone = detector.backbone
        self.head = detector.head

    def forward(self, image: Any) -> tuple[Any, Any]:
        out = self.head(list(self.backbone(image).values()))
        return out["bbox_regression"], out["cls_logits"]


@pytest.fixture(scope="session")
def ssdlite_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """torchvision SSDlite320-MobileNet-V3 (5 classes, random, BN calibrated) at 1x3x160x160."""
    torch.manual_seed(0)
    detector = torchvision.models.detection.ssdlite320_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=5
    )
    module = _calibrated(_SsdLiteHead(detector), (2, 3, 160, 160))
    path = tmp_path_factory.mktemp("ssdlite") / "ssdlite.onnx"
    torch.onnx.export(
        module,
        (torch.randn(1, 3, 160, 160),),
        str(path),
        input_names=["image"],
        output_names=["boxes", "scores"],
        opset_version=17,
        dynamo=False,
    )
    return path


# ResNet-18 parity is in test_backend_openvino.py and test_backend_ncnn.py.
MODELS: dict[str, Callable[[pytest.FixtureRequest], Path]] = {
    "mobilenet_v3": lambda r: r.getfixturevalue("mobilenet_v3")[0],
    "ssdlite": lambda r: r.getfixturevalue("ssdlite_export"),
}


@pytest.mark.parametrize(
    ("name", "backend"),
    [("mobilenet_v3", "openvino"), ("mobilenet_v3", "ncnn"), ("ssdlite", "openvino"),
     pytest.param("ssdlite", "ncnn", marks=pytest.mark.slow)],  # the heaviest pnnx conversion
)  # fmt: skip
def test_backend_matches_onnxruntime(
    request: pytest.FixtureRequest, name: str, backend: str
) -> None:
    pytest.importorskip(backend)
    path = MODELS[name](request)
    options = CompareOptions(rtol=1e-3, atol=1e-4, backend_options={"threads": 1})
    result = compare(load(path), backend=backend, options=options)
    assert result.passed, [o.summary() for o in result.outputs]
    for output in result.outputs:
        # the outputs are not vanishing, so the tolerance really tests something
        assert output.reference_max_abs > 1e-2
        assert output.max_abs_err < 1e-3
    if name == "mobilenet_v3":
        (logits,) = result.outputs
        assert logits.top1_agreement == 1.0 and logits.top5_agreement == 1.0
    assert result.candidate.config["runtime"].startswith(backend)


def test_torch_module_matches_its_onnx_export(mobilenet_v3: tuple[Path, Any]) -> None:
    path, module = mobilenet_v3
    options = CompareOptions(samples=2, backend_options={"module": module})
    result = compare(load(path), backend="torch", options=options)
    assert result.passed, [o.summary() for o in result.outputs]
    assert result.samples == 2
    assert result.candidate.config["runtime"].startswith("torch")


def test_torch_module_detects_changed_weights(mobilenet_v3: tuple[Path, Any]) -> None:
    path, module = mobilenet_v3
    changed = torchvision.models.mobilenet_v3_small(weights=None)
    changed.load_state_dict(module.state_dict())
    with torch.no_grad():
        changed.classifier[3].bias.add_(0.5)
    options = CompareOptions(backend_options={"module": changed.eval()})
    result = compare(load(path), backend="torch", options=options)
    assert not result.passed
    assert result.outputs[0].max_abs_err == pytest.approx(0.5, rel=1e-3)


def test_reference_evaluator_matches_onnxruntime(examples_dir: Path) -> None:
    model = load(examples_dir / "opset17.onnx")
    result = compare(model, backend="reference", options=CompareOptions(samples=3, seed=5))
    assert result.passed
    assert result.outputs[0].samples == 3


def test_openvino_bf16_runs_natively_or_is_emulated_and_says_so(
    resnet18_export: Path, cli: Any
) -> None:
    pytest.importorskip("openvino")
    from nnport.precision.native import openvino_cpu_capabilities

    run = cli("compare", resnet18_export, "-b", "openvino", "--precision", "bf16", "--json")
    result = loads(CompareResult, run.out)
    assert result.precision == "bf16"
    if "BF16" in openvino_cpu_capabilities():
        assert result.precision_mode == "native"
        assert result.candidate.config["precision"] == "bf16"
    else:
        # This CPU has no bf16 unit: nnport emulates bf16 on ONNX Runtime, and says so.
        assert result.precision_mode == "emulated"
        assert result.candidate.backend == "onnxruntime"
        assert any("no bf16 unit" in n for n in result.notes)
    assert result.outputs[0].max_abs_err > 1e-3  # bf16 is not fp32


def test_compare_cli_json_round_trips(examples_dir: Path, cli: Any, tmp_path: Path) -> None:
    import numpy as np

    inputs = tmp_path / "inputs.npz"
    rng = np.random.default_rng(0)
    np.savez(
        inputs,
        x__0=rng.standard_normal((1, 6, 16)).astype("float32"),
        x__1=rng.standard_normal((1, 6, 16)).astype("float32"),
    )
    run = cli(
        "compare", examples_dir / "opset17.onnx", "-b", "openvino", "--inputs", inputs, "--json"
    )
    assert run.code == 0, run.err
    result = loads(CompareResult, run.out)
    assert result.passed and result.samples == 2
    assert result.candidate.config["precision"] == "f32"
    text = cli("compare", examples_dir / "opset17.onnx", "-b", "openvino", "--inputs", inputs)
    assert text.code == 0 and "PASS" in text.out and "cosine similarity" in text.out


def test_compare_cli_bad_usage(examples_dir: Path, cli: Any, tmp_path: Path) -> None:
    run = cli("compare", examples_dir / "opset17.onnx", "-b", "nosuch")
    assert run.code == 2 and "unknown backend" in run.err
    run = cli(
        "compare",
        examples_dir / "opset17.onnx",
        "-b",
        "onnxruntime",
        "--inputs",
        tmp_path / "x.npz",
    )
    assert run.code == 2 and "no such inputs file" in run.err
    run = cli("compare", examples_dir / "opset17.onnx", "-b", "onnxruntime", "-O", "oops")
    assert run.code == 2 and "KEY=VALUE" in run.err


def test_reduced_precision_mismatch_names_the_precision(mobilenet_v3: tuple[Path, Any]) -> None:
    """ncnn in f16 (storage and arithmetic, f16 weights) drifts; f32 on the same path does not."""
    pytest.importorskip("ncnn")
    path, _ = mobilenet_v3
    model = load(path)
    results = {}
    for precision in ("f32", "f16"):
        options = CompareOptions(
            rtol=1e-4, atol=1e-5, backend_options={"precision": precision, "threads": 1}
        )
        results[precision] = compare(model, backend="ncnn", options=options)
    assert results["f32"].passed and not results["f32"].notes
    f16 = results["f16"]
    assert not f16.passed
    assert f16.candidate.config["precision"] == "f16"
    assert f16.candidate.config["fp16_weights"] == "true"
    assert any("inference precision f16" in note for note in f16.notes)


def test_torch_factory_and_weights_from_the_cli(
    mobilenet_v3: tuple[Path, Any], tmp_path: Path, cli: Any
) -> None:
    path, module = mobilenet_v3
    weights = tmp_path / "mobilenet.pt"
    torch.save(module.state_dict(), weights)
    factory = "torchvision.models:mobilenet_v3_small"
    run = cli(
        "compare",
        path,
        "-b",
        "torch",
        "-O",
        f"module={factory}",
        "-O",
        f"weights={weights}",
        "--json",
    )
    assert run.code == 0, run.err
    result = loads(CompareResult, run.out)
    assert result.passed and result.candidate.config["module"] == factory
    run = cli("compare", path, "-b", "torch", "-O", "module=torchvision.models:nope")
    assert run.code == 2 and "cannot import" in run.err
    run = cli("compare", path, "-b", "torch", "-O", f"module={factory}", "-O", f"weights={path}")
    assert run.code == 2 and "not a readable torch state dict" in run.err
