"""The planner skips re-running a pass's result only when it computes the same thing by
construction (same nodes, weights, op meaning); any real change is run and compared."""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from graphs import parse
from nnport.passes import fix
from nnport.passes.convert_opset import ConvertOpsetPass
from nnport.passes.verify import same_computation

NET = """
    <ir_version: 8, opset_import: ["" : 17]>
    g (float[1,3,8,8] x) => (float[1,4,8,8] y) {
        w = Constant<value=float[4,3,1,1] {1,2,3,4,5,6,7,8,9,10,11,12}>()
        c = Conv(x, w)
        r = Relu(c)
        y = Add(r, c)
    }
"""


def test_an_opset_move_that_changes_no_node_is_identical() -> None:
    model = parse(NET)
    moved = ConvertOpsetPass(13)(model).model
    assert moved.opset_imports[""] == 13
    assert same_computation(model, moved)  # Relu-14 / Add-14 only widened the types


def test_a_meaning_change_or_new_weights_are_not() -> None:
    softmax = """
        <ir_version: 7, opset_import: ["" : 11]>
        g (float[2,3,4] x) => (float[2,3,4] y) { y = Softmax<axis=1>(x) }
    """
    old = parse(softmax)
    relabelled = old.clone()
    relabelled.opset_imports[""] = 13  # same node, but Softmax-13 normalizes one axis only
    assert not same_computation(old, relabelled)
    model = parse(NET)
    changed = model.clone()
    const = next(n for n in changed.graph if n.op_type == "Constant")
    const.attributes["value"] = ir.AttrTensor("value", ir.tensor(np.ones((4, 3, 1, 1), np.float32)))
    assert not same_computation(model, changed)
    renamed = model.clone()
    next(n for n in renamed.graph if n.op_type == "Add").op_type = "Sub"
    assert not same_computation(model, renamed)


def test_fix_records_the_shortcut_and_stays_verified() -> None:
    result = fix(parse(NET), "ascend310")
    assert result.deployable and result.verified
    opset = next(p for p in result.passes if p.fix == "convert-opset")
    assert opset.kept and "identical by construction" in opset.reason
