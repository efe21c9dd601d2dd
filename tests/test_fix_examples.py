"""Done-when: every example goes check (fails) -> fix -> check (passes) -> outputs match, on ascend310."""

from __future__ import annotations

import hashlib
from pathlib import Path

import onnx_ir as ir
import pytest

from nnport.check import check
from nnport.model.io import load, save
from nnport.passes import FixOptions, fix
from nnport.passes.base import static_shape
from nnport.passes.verify import drift, run_model
from nnport.verify.inputs import generate_inputs

EXAMPLES = [
    ("cast_int64", None),
    ("tile_broadcast", None),
    ("gather_elements", None),
    ("lp_normalization", None),
    ("dynamic_input", {"x": (2, 3, 16, 16)}),
    ("opset17", None),
    ("demo", None),
]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def outputs_match(original: ir.Model, fixed: ir.Model, seed: int) -> None:
    """Fresh inputs at the fixed model's shapes: original and fixed outputs agree."""
    shapes = {v.name or "": static_shape(v) for v in fixed.graph.inputs}
    concrete = {k: v if v is not None else (1,) for k, v in shapes.items()}
    for value in fixed.graph.inputs:
        if static_shape(value) is None and value.shape is not None:
            concrete[value.name or ""] = tuple(d if isinstance(d, int) else 1 for d in value.shape)
    feeds = generate_inputs(original, concrete, samples=3, seed=seed)
    _, before = run_model(original, feeds)
    engine, after = run_model(fixed, feeds)
    assert engine == "onnxruntime"
    result = drift(before, after, rtol=1e-4, atol=1e-5)
    assert result.ok, result.reason


@pytest.mark.parametrize(("name", "shapes"), EXAMPLES)
def test_example_is_fixed_for_ascend310(
    name: str, shapes: dict[str, tuple[int, ...]] | None, examples_dir: Path, tmp_path: Path
) -> None:
    path = examples_dir / f"{name}.onnx"
    before_digest = digest(path)
    original = load(path)
    assert not check(original, "ascend310").deployable
    result = fix(original, "ascend310", input_shapes=shapes, options=FixOptions(seed=3))
    assert result.deployable and result.verified, (result.passes, result.remaining)
    out = save(result.model, tmp_path / f"{name}.fixed.onnx")
    fixed = load(out)
    assert check(fixed, "ascend310", input_shapes=shapes).deployable
    outputs_match(load(path), fixed, seed=11)
    assert digest(path) == before_digest  # fix never touches its input file


@pytest.mark.parametrize("name", ["tile_broadcast", "dynamic_input"])
def test_example_is_fixed_for_nnie(name: str, examples_dir: Path) -> None:
    shapes = {"x": (1, 3, 16, 16)} if name == "dynamic_input" else None
    original = load(examples_dir / f"{name}.onnx")
    assert not check(original, "nnie").deployable
    result = fix(original, "nnie", input_shapes=shapes)
    assert result.deployable and result.verified
    assert "Tile" not in {n.op_type for n in result.model.graph}
    outputs_match(original, result.model, seed=5)


def test_lp_normalization_on_nnie_says_why_it_stays(examples_dir: Path) -> None:
    """NNIE has no reduction, Sqrt or Div: the decomposition would leave unfixable ops."""
    original = load(examples_dir / "lp_normalization.onnx")
    result = fix(original, "nnie")
    assert not result.deployable and result.verified
    lp = next(r for r in result.remaining if r.op == "LpNormalization")
    assert lp.reason.startswith("rolled back") and "Sqrt" in lp.reason
    # Every kept pass still verified, and nothing made it worse.
    assert result.violations_after <= result.violations_before


def test_input_model_object_is_not_modified(examples_dir: Path) -> None:
    original = load(examples_dir / "gather_elements.onnx")
    text = str(ir.serde.serialize_model(original))
    fix(original, "ascend310")
    assert str(ir.serde.serialize_model(original)) == text


@pytest.mark.parametrize("target", ["ascend310", "nnie"])
def test_real_torchvision_export_is_fixed(resnet18_export: Path, target: str) -> None:
    """A real torch.onnx.export (ResNet-18, opset 17): fixed, re-checked, outputs match."""
    original = load(resnet18_export)
    assert not check(original, target).deployable  # opset 17 is above both targets' range
    result = fix(original, target)
    assert result.deployable and result.verified, result.remaining
    assert result.opset_after <= 13
    assert check(result.model, target).deployable
    outputs_match(original, result.model, seed=21)
