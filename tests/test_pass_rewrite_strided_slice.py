"""rewrite-strided-slice: Slice with steps > 1 becomes step-1 Slices and Reshapes (ncnn), exactly."""

from __future__ import annotations

import pytest

from graphs import ops, parse
from nnport.check import check
from nnport.passes import fix
from nnport.passes.base import const_array
from nnport.passes.rewrite_strided_slice import RewriteStridedSlicePass
from nnport.passes.verify import apply_verified
from nnport.verify.inputs import generate_inputs


def _model(shape: str, out: str, starts: str, ends: str, axes: str, steps: str, n: int = 1) -> str:
    return f"""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[{shape}] x) => (float[{out}] y) {{
            s = Constant<value=int64[{n}] {{{starts}}}>()
            e = Constant<value=int64[{n}] {{{ends}}}>()
            a = Constant<value=int64[{n}] {{{axes}}}>()
            k = Constant<value=int64[{n}] {{{steps}}}>()
            y = Slice(x, s, e, a, k)
        }}
    """


CASES = {
    "even rows from 0": ("1,8,6,4", "1,4,6,4", "0", "9223372036854775807", "1", "2", 1),
    "odd rows": ("1,8,6,4", "1,4,6,4", "1", "8", "1", "2", 1),
    "last axis, step 3": ("2,5,9", "2,5,3", "1", "9", "2", "3", 1),
    "short last group (0:7:2)": ("1,3,7,7", "1,3,4,7", "0", "7", "2", "2", 1),
    "two axes (Swin patch merging)": ("1,8,8,3", "1,4,4,3", "0,1", "8,8", "1,2", "2,2", 2),
    "rank 1, negative start": ("10", "3", "-9", "10", "0", "3", 1),
}


@pytest.mark.parametrize("case", CASES)
def test_strided_slices_are_rebuilt_exactly(case: str) -> None:
    model = parse(_model(*CASES[case]))
    new, drift = apply_verified(RewriteStridedSlicePass(), model, generate_inputs(model))
    assert drift.ok and drift.max_abs == 0.0, drift.reason
    for node in new.graph:
        if node.op_type == "Slice" and len(node.inputs) > 4:
            steps = const_array(node.inputs[4])
            assert steps is None or (steps == 1).all()
    assert "Reshape" in ops(new)
    ranks = [len(v.shape) for n in new.graph for v in n.outputs if v.shape is not None]
    assert max(ranks, default=0) <= len(CASES[case][0].split(","))  # the rank never grows


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (_model("1,8", "1,8", "7", "-9", "1", "-1"), "negative steps"),
        (_model("1,8", "1,8", "0", "8", "1", "1"), "every step is 1"),
        (_model("N,8", "N,4", "0", "8", "1", "2"), "not static"),
    ],
)
def test_declines(text: str, reason: str) -> None:
    pass_ = RewriteStridedSlicePass()
    result = pass_(parse(text))
    assert not result.modified and reason in pass_.declined[0]


def test_fix_for_ncnn_uses_it() -> None:
    # A 1x1 MaxPool in front, as in a network: without an op such as Conv or pooling, pnnx cannot
    # tell the batch axis and check reports batch-axis-unknown (tests/test_check_batch_anchor.py).
    text = _model(*CASES["two axes (Swin patch merging)"]).replace(
        "y = Slice(x,", "p = MaxPool<kernel_shape=[1,1]>(x)\n            y = Slice(p,"
    )
    model = parse(text)
    if check(model, "ncnn").deployable:
        pytest.skip("the ncnn profile takes strided Slices now")
    result = fix(model, "ncnn")
    assert result.deployable and result.verified and result.max_error == 0.0
    assert any(p.fix == "rewrite-strided-slice" and p.kept for p in result.passes)
    assert check(result.model, "ncnn").deployable
