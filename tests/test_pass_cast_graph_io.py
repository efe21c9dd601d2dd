"""cast-graph-io: int64/bool graph inputs and outputs become float32 with Casts at the boundary."""

from __future__ import annotations

import numpy as np
import onnx
import onnx_ir as ir

from nnport.model.io import load
from nnport.passes.cast_graph_io import CastGraphIOPass
from nnport.passes.fold_constants import infer_shapes
from nnport.passes.verify import apply_verified, run_model
from nnport.verify.inputs import generate_inputs


def test_gather_elements_int64_index_input_becomes_float(examples_dir) -> None:  # type: ignore[no-untyped-def]
    model = load(examples_dir / "gather_elements.onnx")
    feeds = generate_inputs(model, samples=2)
    new, drift = apply_verified(CastGraphIOPass(("float32",)), model, feeds)
    assert drift.ok and drift.max_abs == 0.0
    inputs = {v.name: v.dtype for v in new.graph.inputs}
    assert inputs == {"x": ir.DataType.FLOAT, "ind": ir.DataType.FLOAT}
    first = next(iter(new.graph))
    assert first.op_type == "Cast" and first.attributes["to"].as_int() == ir.DataType.INT64.value


def test_bool_input_and_int64_output_keep_their_names() -> None:
    model = ir.serde.deserialize_model(
        onnx.parser.parse_model("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (bool m, float[4] x) => (int64[4] y) {
            z = Constant<value=float[4] {0,0,0,0}>()
            w = Where(m, x, z)
            y = Cast<to=7>(w)
        }
    """)
    )
    feeds = [{"m": np.array([True, False, True, False]), "x": np.array([1, 2, 3, 4], np.float32)}]
    new, drift = apply_verified(CastGraphIOPass(("float32", "uint8")), model, feeds)
    assert drift.ok
    assert [v.name for v in new.graph.inputs] == ["m", "x"]
    assert [(v.name, v.dtype) for v in new.graph.outputs] == [("y", ir.DataType.FLOAT)]
    _, out = run_model(new, feeds)
    assert out[0]["y"].tolist() == [1.0, 0.0, 3.0, 0.0]


def test_allowed_dtypes_are_left_alone() -> None:
    model = ir.serde.deserialize_model(
        onnx.parser.parse_model("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (uint8[4] x) => (float[4] y) { y = Cast<to=1>(x) }
    """)
    )
    assert not CastGraphIOPass(("float32", "uint8"))(model).modified


def test_generated_inputs_see_through_the_boundary_cast(examples_dir) -> None:  # type: ignore[no-untyped-def]
    model = load(examples_dir / "gather_elements.onnx")
    new = CastGraphIOPass(("float32",))(model.clone()).model
    infer_shapes(new)  # the data shape behind the Reshape decides the index range
    (feed,) = generate_inputs(new, seed=4)
    ind = feed["ind"]
    assert ind.dtype == np.float32
    assert ind.min() >= 0 and ind.max() < 64 and np.all(ind == np.floor(ind))
    _, out = run_model(new, [feed])  # valid indices: it runs
    assert out[0]["y"].shape == (1, 4, 16)
