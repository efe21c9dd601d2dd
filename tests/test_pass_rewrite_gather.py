"""rewrite-gather: a Gather with constant indices of several elements becomes step-1 Slices, a
Concat and (for indices that are not a vector) a Reshape, exactly."""

from __future__ import annotations

import pytest

from graphs import ops, parse
from nnport.passes.rewrite_gather import MAX_PIECES, RewriteGatherPass, runs
from nnport.passes.verify import apply_verified
from nnport.verify.inputs import generate_inputs


def _model(shape: str, out: str, index_shape: str, indices: str, axis: int) -> str:
    return f"""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[{shape}] x) => (float[{out}] y) {{
            i = Constant<value=int64[{index_shape}] {{{indices}}}>()
            y = Gather<axis={axis}>(x, i)
        }}
    """


CASES = {
    "vector, two runs": ("1,5,4", "1,3,4", "3", "0,2,3", 1),
    "matrix of indices": ("1,5,4", "1,2,2,4", "2,2", "0,2,1,1", 1),
    "negative, last axis": ("2,3,6", "2,3,2", "2", "-1,0", 2),
    "axis 0, descending": ("4,3", "2,3", "2", "3,1", 0),
    "dynamic first axis": ("N,5,4", "N,1,2,4", "1,2", "1,2", 1),
}


@pytest.mark.parametrize("case", CASES)
def test_gathers_become_slices_exactly(case: str) -> None:
    model = parse(_model(*CASES[case]))
    shapes = {"x": (3, 5, 4)} if case == "dynamic first axis" else None
    new, drift = apply_verified(RewriteGatherPass(), model, generate_inputs(model, shapes))
    assert drift.ok and drift.max_abs == 0.0, drift.reason
    assert "Gather" not in ops(new) and "Slice" in ops(new)


def test_consecutive_indices_share_one_slice() -> None:
    assert runs([0, 1, 2, 5, 4, 5]) == [(0, 3), (5, 6), (4, 6)]
    model = parse(_model("1,8,4", "1,4,4", "4", "2,3,4,5", 1))
    new, drift = apply_verified(RewriteGatherPass(), model, generate_inputs(model))
    assert drift.ok and ops(new).count("Slice") == 1 and "Concat" not in ops(new)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (_model("1,5,4", "1,1,4", "1", "2", 1), "one index"),
        (_model("1,N,4", "1,2,4", "2", "-1,0", 1), "negative indices"),
        (_model("1,200", f"1,{MAX_PIECES + 1}", str(MAX_PIECES + 1),
                ",".join(str(2 * k) for k in range(MAX_PIECES + 1)), 1), "runs of indices"),
        ("""
            <ir_version: 8, opset_import: ["" : 13]>
            g (float[1,5,4] x, int64[2] i) => (float[1,2,4] y) {
                y = Gather<axis=1>(x, i)
            }
         """, "computed at run time"),
    ],
)  # fmt: skip
def test_declines(text: str, reason: str) -> None:
    pass_ = RewriteGatherPass()
    result = pass_(parse(text))
    assert not result.modified and reason in pass_.declined[0]


SUITE = ["test_gather_0", "test_gather_1", "test_gather_2d_indices", "test_gather_negative_indices"]


@pytest.mark.parametrize("name", SUITE)
def test_the_suite_gathers_keep_their_numbers(name: str) -> None:
    """The node suite's Gather cases with their indices frozen to constants (as the ncnn probe
    runs them): the rewritten model gives the suite's expected outputs on ONNX Runtime."""
    import numpy as np
    import onnx_ir as ir

    from nnport.passes.verify import run_model
    from nnport.probe.engine import case_inputs, load_cases

    (case,) = load_cases(names=[name])
    frozen, inputs = case_inputs(case, freeze=True)
    result = RewriteGatherPass()(ir.serde.deserialize_model(frozen))
    assert result.modified and "Gather" not in ops(result.model)
    feeds = dict(zip([i.name for i in frozen.graph.input], inputs, strict=False))
    _, (got,) = run_model(result.model, [feeds])
    (want,) = case.data_sets[0][1]
    np.testing.assert_array_equal(got[result.model.graph.outputs[0].name], want)
