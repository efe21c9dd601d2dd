"""fuse-lpnorm (an onnxscript rewrite rule): ReduceL2 + Max(ε) + Div back into LpNormalization."""

from __future__ import annotations

import numpy as np
import pytest

from graphs import parse
from nnport.passes.decompose_lpnorm import DecomposeLpNormPass
from nnport.passes.fuse_lpnorm import FuseLpNormPass
from nnport.passes.verify import apply_verified

FEEDS = [{"x": np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)}]


@pytest.mark.parametrize("opset", [13, 18])
def test_decomposed_l2_norm_fuses_back(opset: int) -> None:
    model = parse(f"""
        <ir_version: 8, opset_import: ["" : {opset}]>
        g (float[3,8] x) => (float[3,8] y) {{ y = LpNormalization<axis=1, p=2>(x) }}
    """)
    decomposed = DecomposeLpNormPass()(model.clone()).model
    fused, drift = apply_verified(FuseLpNormPass(), decomposed, FEEDS)
    assert drift.ok and drift.max_abs == 0.0
    node = next(iter(fused.graph))
    assert [n.op_type for n in fused.graph] == ["LpNormalization"]
    assert node.attributes["axis"].as_int() == 1


def test_a_large_epsilon_is_not_fused() -> None:
    model = parse("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[3,8] x) => (float[3,8] y) {
            n = ReduceL2<axes=[1], keepdims=1>(x)
            e = Constant<value=float {0.5}>()
            m = Max(n, e)
            y = Div(x, m)
        }
    """)
    pass_ = FuseLpNormPass()
    assert not pass_(model).modified
    assert "LpNormalization" not in [n.op_type for n in model.graph]
