"""The NNIE users' Tile case: a computed (1,1,1,128) vector tiled to (1,1,94,128) for a Mul
becomes Concats of copies (layers NNIE has), then Caffe, then the same numbers on OpenCV."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphs import ops
from graphs import parse_inferred as parse
from nnport.backends.caffe.convert import build_net
from nnport.check import check
from nnport.model import load
from nnport.passes import fix
from nnport.passes.base import static_shape
from nnport.passes.fold_constants import infer_shapes
from nnport.passes.materialize_broadcast import MaterializeBroadcastPass
from nnport.passes.verify import apply_verified
from nnport.verify.compare import CompareOptions, compare
from nnport.verify.inputs import generate_inputs


@pytest.mark.parametrize("name", ["tile_vector_mul", "tile_broadcast"])
def test_tile_example_is_fixed_converted_and_matches_on_opencv(
    examples_dir: Path, name: str
) -> None:
    original = load(examples_dir / f"{name}.onnx")
    assert not check(original, "nnie").deployable
    result = fix(original, "nnie")
    assert result.deployable and result.verified, result.remaining
    assert result.model is not None and "Tile" not in ops(result.model)
    net = build_net(result.model)
    assert "Tile" not in net.prototxt and not any(m.op == "Tile" for m in net.layers)
    pytest.importorskip("cv2", reason="the caffe extra (opencv-python-headless<5) is not installed")
    compared = compare(
        original, against=result.model, backend="caffe",
        options=CompareOptions(rtol=1e-3, atol=1e-4, samples=2),
    )  # fmt: skip
    assert compared.passed, [(o.name, o.max_abs_err) for o in compared.outputs]


def test_tile_vector_mul_takes_log2_concats(examples_dir: Path) -> None:
    result = fix(load(examples_dir / "tile_vector_mul.onnx"), "nnie")
    assert result.model is not None
    kept = [p.fix for p in result.passes if p.kept]
    assert kept == ["rewrite-tile", "materialize-broadcast"]
    # 94 = 64 + 16 + 8 + 4 + 2: six doublings and one Concat of five powers of two.
    assert ops(result.model).count("Concat") == 7
    infer_shapes(result.model)
    mul = next(n for n in result.model.graph if n.op_type == "Mul")
    assert [static_shape(v) for v in mul.inputs] == [(1, 1, 94, 128), (1, 1, 94, 128)]


def test_lower_rank_operand_is_reshaped_then_copied() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[1,3,5,4] x, float[4] v) => (float[1,3,5,4] y) {
            s = Sigmoid(v)
            y = Add(x, s)
        }
    """)
    new, drift = apply_verified(MaterializeBroadcastPass(), model, generate_inputs(model))
    assert drift.ok and drift.max_abs == 0.0
    # 3 channels: one doubling + one Concat of the two pieces; 5 rows: two doublings + one.
    assert ops(new) == ["Sigmoid", "Reshape", *["Concat"] * 5, "Add"]


def test_copies_beyond_the_limit_are_declined() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[1,1,94,128] x, float[1,1,1,128] v) => (float[1,1,94,128] y) { y = Mul(x, v) }
    """)
    pass_ = MaterializeBroadcastPass(max_copies=64)
    assert not pass_(model).modified
    assert "needs 94 copies (more than 64)" in pass_.declined[0]


def test_concat_of_copies_is_exact() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[1,1,94,128] x, float[1,1,1,128] v) => (float[1,1,94,128] y) { y = Mul(x, v) }
    """)
    feeds = generate_inputs(model, samples=2, seed=3)
    new, drift = apply_verified(MaterializeBroadcastPass(), model, feeds)
    assert drift.ok and drift.max_abs == 0.0
    assert ops(new).count("Concat") == 7 and "Tile" not in ops(new)
