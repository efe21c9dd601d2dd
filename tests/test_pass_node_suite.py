"""The ONNX backend node suite as external data: every decomposition keeps each case's numbers.

For each suite case whose graph holds an op one of our passes rewrites, the pass runs on the
case's model and ONNX Runtime's outputs of the rewritten model must match the suite's expected
outputs (the suite's own rtol, atol at least 1e-6). Cases the pass declines are skipped with the
pass's reason; the slow sweep does the same for opset down-conversion to 13.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import onnx
import onnx_ir as ir
import pytest

from nnport.passes.base import FixPass
from nnport.passes.convert_opset import ConvertOpsetPass
from nnport.passes.decompose_clip import DecomposeClipPass
from nnport.passes.decompose_gather_elements import DecomposeGatherElementsPass
from nnport.passes.decompose_gelu import DecomposeGeluPass
from nnport.passes.decompose_hardsigmoid import DecomposeHardSigmoidPass
from nnport.passes.decompose_hardswish import DecomposeHardSwishPass
from nnport.passes.decompose_isnan import DecomposeIsNaNPass
from nnport.passes.decompose_layernorm import DecomposeLayerNormPass
from nnport.passes.decompose_lpnorm import DecomposeLpNormPass
from nnport.passes.decompose_mish import DecomposeMishPass
from nnport.passes.replace_reduce_mean import ReplaceReduceMeanPass
from nnport.passes.rewrite_tile import RewriteTilePass
from nnport.passes.verify import run_model

PASSES: dict[str, type[FixPass]] = {
    "HardSwish": DecomposeHardSwishPass,
    "HardSigmoid": DecomposeHardSigmoidPass,
    "Gelu": DecomposeGeluPass,
    "Mish": DecomposeMishPass,
    "LayerNormalization": DecomposeLayerNormPass,
    "LpNormalization": DecomposeLpNormPass,
    "GatherElements": DecomposeGatherElementsPass,
    "Clip": DecomposeClipPass,
    "IsNaN": DecomposeIsNaNPass,
    "ReduceMean": ReplaceReduceMeanPass,
    "Tile": RewriteTilePass,
}


# Importing one module of the suite generates only that op's cases (importing all takes ~20 s).
MODULES = [
    "hardswish", "hardsigmoid", "gelu", "mish", "layernormalization", "lpnormalization",
    "gatherelements", "clip", "isnan", "reducemean", "tile",
]  # fmt: skip
# The snags of opset down-conversion (axes and split as inputs, Resize): the slow sweep.
CONVERT_MODULES = ["split", "squeeze", "unsqueeze", "reducesum", "reducesumsquare", "resize"]


def _cases(modules: list[str]) -> list[Any]:
    import importlib

    from onnx.backend.test.case import node

    start = len(node._NodeTestCases)
    with np.errstate(all="ignore"):
        for name in modules:
            module = f"onnx.backend.test.case.node.{name}"
            if module in sys.modules:  # already imported: its cases are in the list
                continue
            importlib.import_module(module)
    return [c for c in node._NodeTestCases[start:] if c.kind == "node"]


CASES = _cases(MODULES + CONVERT_MODULES)


def _selected() -> list[Any]:
    picked = []
    for case in CASES:
        ops = {n.op_type for n in case.model.graph.node if n.domain in ("", "ai.onnx")}
        if "expanded" in case.name or len(case.model.graph.node) != 1:
            continue
        if ops & set(PASSES):
            picked.append(pytest.param(case, id=case.name))
    return picked


def _feeds(case: Any, model: onnx.ModelProto) -> tuple[list[dict[str, np.ndarray]], list[Any]]:
    names = [i.name for i in model.graph.input]
    feeds, expected = [], []
    for inputs, outputs in case.data_sets:
        feeds.append(dict(zip(names, inputs, strict=False)))
        expected.append(outputs)
    return feeds, expected


def _compare(case: Any, model: ir.Model, feeds: list[dict[str, np.ndarray]],
             expected: list[Any]) -> None:  # fmt: skip
    engine, got = run_model(model, feeds)
    names = [v.name or "" for v in model.graph.outputs]
    for outs, exp in zip(got, expected, strict=True):
        for name, want in zip(names, exp, strict=True):
            np.testing.assert_allclose(
                outs[name].astype(np.float64), np.asarray(want).astype(np.float64),
                rtol=max(case.rtol, 1e-5), atol=max(case.atol, 1e-6), err_msg=f"{name} ({engine})",
            )  # fmt: skip


@pytest.mark.parametrize("case", _selected())
def test_decomposition_keeps_the_suite_numbers(case: Any) -> None:
    op = next(n.op_type for n in case.model.graph.node)
    pass_ = PASSES[op](nodes=[n.name for n in case.model.graph.node])
    model = ir.serde.deserialize_model(case.model)
    result = pass_(model)
    if not result.modified:
        pytest.skip(f"{pass_.fix_id} declines: {'; '.join(pass_.declined) or 'nothing to do'}")
    assert op not in {n.op_type for n in result.model.graph} or op == "Tile"
    feeds, expected = _feeds(case, case.model)
    _compare(case, result.model, feeds, expected)


def _opset(case: Any) -> int:
    versions = [o.version for o in case.model.opset_import if o.domain in ("", "ai.onnx")]
    return versions[0] if versions else 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c.name) for c in CASES if _opset(c) > 13 and "expanded" not in c.name],
)
def test_down_conversion_to_13_keeps_the_suite_numbers(case: Any) -> None:
    model = ir.serde.deserialize_model(case.model)
    try:
        result = ConvertOpsetPass(13)(model)
    except Exception as exc:  # Decline: the op does not exist at 13, computed axes, ...
        pytest.skip(f"declined: {' '.join(str(exc).split())[:120]}")
    feeds, expected = _feeds(case, case.model)
    try:
        _compare(case, ir.serde.deserialize_model(case.model), feeds, expected)
    except (AssertionError, Exception) as exc:
        # The runtime disagrees with the suite on the original (or cannot run it): nothing to
        # compare the rewrite against. Known: ORT's Resize align_corners downsampling.
        pytest.skip(f"the runtime does not reproduce the original: {str(exc).splitlines()[0]}")
    _compare(case, result.model, feeds, expected)
