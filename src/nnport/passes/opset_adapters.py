"""Down-conversion adapters onnx.version_converter lacks: inputs back to attributes, new attrs dropped."""

from __future__ import annotations

import numpy as np
import onnx
import onnx_ir as ir

from nnport.model.external import inline_external
from nnport.passes.base import Decline, all_nodes, const_array, set_dtype

# Hand-rolled because onnx.version_converter has no down adapters for most ops whose new
# version only widened the type list (Add/Sub/Mul/Relu-14, Identity-16, ...) and fails the whole
# model on the first such op. Here every node is checked against the target schema afterwards
# (onnx.checker, full_check) and the planner verifies the numbers.

_REDUCE_18 = (
    "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
    "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare",
)  # fmt: skip
# (op, version that moved an input to attributes' place, input index, attribute name)
_INPUT_TO_ATTR = [
    ("Split", 13, 1, "split"),
    ("Squeeze", 13, 1, "axes"),
    ("Unsqueeze", 13, 1, "axes"),
    ("ReduceSum", 13, 1, "axes"),
    *[(op, 18, 1, "axes") for op in _REDUCE_18],
]
# Attributes added later that are harmless when they hold their default value.
_DEFAULT_ATTRS = {
    ("Reshape", "allowzero"): 0,
    ("Split", "num_outputs"): None,
    ("Cast", "saturate"): 1,
    ("ReduceSum", "noop_with_empty_axes"): 0,
    **{(op, "noop_with_empty_axes"): 0 for op in _REDUCE_18},
    ("Resize", "antialias"): 0,
    ("Resize", "keep_aspect_ratio_policy"): "stretch",
}


def _input_to_attribute(node: ir.Node, index: int, attr: str) -> None:
    if len(node.inputs) <= index or node.inputs[index] is None:
        return
    data = const_array(node.inputs[index])
    if data is None:
        raise Decline(
            f"{node.name or node.op_type}: {node.op_type} {attr} is computed, not a constant; "
            "it cannot become an attribute (run freeze-shapes first)"
        )
    values = [int(v) for v in data.reshape(-1)]
    inputs = list(node.inputs)
    inputs[index] = None
    while inputs and inputs[-1] is None:
        inputs.pop()
    node.resize_inputs(len(inputs))
    for i, value in enumerate(inputs):
        node.replace_input_with(i, value)
    node.attributes[attr] = ir.AttrInt64s(attr, values)


def _no_zero_dim(node: ir.Node) -> bool:
    """A Reshape whose shape is a constant without 0 (allowzero then changes nothing)."""
    shape = const_array(node.inputs[1]) if len(node.inputs) > 1 else None
    return shape is not None and not bool((shape == 0).any())


def _drop_default_attrs(node: ir.Node) -> None:
    for (op, attr), default in _DEFAULT_ATTRS.items():
        if node.op_type != op or attr not in node.attributes:
            continue
        value = node.attributes[attr].value
        if (op, attr) == ("Reshape", "allowzero") and _no_zero_dim(node):
            value = default  # allowzero only changes what a 0 in the shape means
        if default is not None and value != default:
            raise Decline(f"{node.name or op}: {op} uses {attr}={value!r}, absent before")
        del node.attributes[attr]


def _clip_to_attributes(node: ir.Node) -> None:
    for index, attr in ((1, "min"), (2, "max")):
        if len(node.inputs) > index and node.inputs[index] is not None:
            data = const_array(node.inputs[index])
            if data is None:
                raise Decline(f"{node.name or 'Clip'}: Clip {attr} is computed (decompose-clip)")
            node.attributes[attr] = ir.AttrFloat32(attr, float(data.reshape(-1)[0]))
    node.resize_inputs(1)


def _fill_resize_inputs(node: ir.Node) -> bool:
    """Resize-11 requires roi and scales; opset 13 lets them be empty names."""
    graph = node.graph
    assert graph is not None
    filled = False
    for index in (1, 2):
        if len(node.inputs) > index and node.inputs[index] is None:
            name = f"{node.name or 'Resize'}_empty_{index}"
            value = ir.Value(name=name, const_value=ir.tensor(np.zeros(0, np.float32), name=name))
            set_dtype(value, ir.DataType.FLOAT)
            value.shape = ir.Shape([0])
            graph.register_initializer(value)
            node.replace_input_with(index, value)
            filled = True
    return filled


def downgrade_nodes(model: ir.Model, current: int, target: int) -> int:
    """Rewrite nodes whose signature changed between ``target`` and ``current``; count them."""
    changed = 0
    for node in all_nodes(model.graph):
        if node.domain not in ("", "ai.onnx"):
            continue
        touched = False
        for op, since, index, attr in _INPUT_TO_ATTR:
            if node.op_type == op and target < since <= current:
                _input_to_attribute(node, index, attr)
                touched = True
        if node.op_type == "Clip" and target < 11 <= current:
            _clip_to_attributes(node)
            touched = True
        if node.op_type == "Resize" and target < 11 <= current:
            raise Decline(f"{node.name or 'Resize'}: Resize before opset 11 is Upsample-like")
        if node.op_type == "Resize" and target < 13 <= current:
            touched = _fill_resize_inputs(node) or touched
        before = dict(node.attributes)
        _drop_default_attrs(node)
        touched = touched or before.keys() != node.attributes.keys()
        changed += int(touched)
    return changed


def check_against_schemas(model: ir.Model) -> None:
    """Refuse a model whose nodes do not fit the schemas of its (new) opset."""
    from nnport.passes.verify import weightless_clone

    # Large weights as typed inputs (fast); small external ones read in (the checker would look
    # for their files in the working directory).
    proto = ir.serde.serialize_model(inline_external(weightless_clone(model)[0]))
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:  # ValidationError / InferenceError carry the C++ message
        first = next((ln for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
        raise Decline(f"the converted graph does not fit the schemas: {first[:300]}") from exc
