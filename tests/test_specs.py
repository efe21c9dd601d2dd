"""Input specs (``--input-shape``) parse strictly and are checked against the model."""

from __future__ import annotations

from pathlib import Path

import pytest

import nnport
from nnport.errors import InputSpecError
from nnport.model.specs import InputSpec, parse_input_shape, resolve_input_shapes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x:1x3x224x224", InputSpec("x", (1, 3, 224, 224))),
        ("x:1,3,224,224", InputSpec("x", (1, 3, 224, 224))),
        ("input.1:1X3X8X8", InputSpec("input.1", (1, 3, 8, 8))),
        ("ns:in:2x5", InputSpec("ns:in", (2, 5))),
        ("1x3x16x16", InputSpec(None, (1, 3, 16, 16))),
        (" x : [1,3] ", InputSpec("x", (1, 3))),
    ],
)
def test_parse(text: str, expected: InputSpec) -> None:
    assert parse_input_shape(text) == expected


@pytest.mark.parametrize("text", ["x:", "x:1xx3", "x:a,b", ":1x3", "x:1x0x3", "x:-1x3", "x:1.5x3"])
def test_malformed_specs(text: str) -> None:
    with pytest.raises(InputSpecError):
        parse_input_shape(text)


def test_resolve_against_the_model(examples_dir: Path) -> None:
    model = nnport.load(examples_dir / "dynamic_input.onnx")
    assert resolve_input_shapes(model, [parse_input_shape("x:2x3x32x32")]) == {"x": (2, 3, 32, 32)}
    assert resolve_input_shapes(model, [parse_input_shape("1x3x8x8")]) == {"x": (1, 3, 8, 8)}
    with pytest.raises(InputSpecError, match="no input named 'y'"):
        resolve_input_shapes(model, [parse_input_shape("y:1x3x8x8")])
    with pytest.raises(InputSpecError, match="rank 4"):
        resolve_input_shapes(model, [parse_input_shape("x:1x3x8")])
    with pytest.raises(InputSpecError, match="fixed size 3"):
        resolve_input_shapes(model, [parse_input_shape("x:1x4x8x8")])
    two = nnport.load(examples_dir / "gather_elements.onnx")
    with pytest.raises(InputSpecError, match="name the one"):
        resolve_input_shapes(two, [parse_input_shape("1x4x8x8")])
