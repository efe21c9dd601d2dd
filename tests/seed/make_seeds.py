"""Build the seed regressions: one small model per fixer pitfall in DESIGN.md (deterministic).

``python tests/seed/make_seeds.py`` rewrites them. Each goes check -> fix -> check -> compare in
tests/test_fix_seed.py against ascend310, whose ATC cannot Cast to int64.

| file                        | pitfall other fixers fall into                                   |
| --------------------------- | ---------------------------------------------------------------- |
| if_subgraph_int64.onnx      | int64 retyped in the main graph but not in the If branches       |
| constant_of_shape_raw.onnx  | ConstantOfShape relabelled int32 while keeping 8-byte raw data   |
| cast_truncation.onnx        | Cast(float->int64)->Cast(int64->float) removed as redundant      |
| topk_k_int64.onnx           | TopK's K retyped to int32 (the spec requires int64)              |
| int64_region.onnx           | Casts back to int64 around every retyped op (int64 count rises)  |
| one_rule_fails.onnx         | one failing rule aborting the run ("no rules matched")           |
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
F, I64 = TensorProto.FLOAT, TensorProto.INT64


def _model(nodes: list[onnx.NodeProto], name: str, inputs: list[onnx.ValueInfoProto],
           outputs: list[onnx.ValueInfoProto], inits: list[onnx.TensorProto] | None = None,
           opset: int = 13) -> onnx.ModelProto:  # fmt: skip
    graph = helper.make_graph(nodes, name, inputs, outputs, inits or [])
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="nnport-seed"
    )
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def _vi(name: str, elem: int, shape: list[int]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def if_subgraph_int64() -> onnx.ModelProto:
    """The If branches add an int64 tensor computed in the main graph."""
    then_g = helper.make_graph(
        [helper.make_node("Add", ["q", "offset"], ["t"])], "then", [], [_vi("t", I64, [2, 4])]
    )
    else_g = helper.make_graph(
        [helper.make_node("Sub", ["q", "offset"], ["e"])], "else", [], [_vi("e", I64, [2, 4])]
    )
    nodes = [
        helper.make_node("Mul", ["x", "ten"], ["x10"]),
        helper.make_node("Cast", ["x10"], ["q"], to=I64),
        helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
        helper.make_node("Greater", ["s", "zero"], ["c"]),
        helper.make_node("If", ["c"], ["r"], then_branch=then_g, else_branch=else_g),
        helper.make_node("Cast", ["r"], ["y"], to=F),
    ]
    inits = [
        numpy_helper.from_array(np.array(10.0, np.float32), "ten"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array(3, np.int64), "offset"),
    ]
    return _model(nodes, "if_subgraph_int64", [_vi("x", F, [2, 4])], [_vi("y", F, [2, 4])], inits)


def constant_of_shape_raw() -> onnx.ModelProto:
    """A ConstantOfShape int64 filled with -5, cast to float and added."""
    value = numpy_helper.from_array(np.array([-5], np.int64))
    nodes = [
        helper.make_node("ConstantOfShape", ["shape"], ["c"], value=value),
        helper.make_node("Cast", ["x"], ["xi"], to=I64),
        helper.make_node("Add", ["xi", "c"], ["s"]),
        helper.make_node("Cast", ["s"], ["y"], to=F),
    ]
    inits = [numpy_helper.from_array(np.array([2, 4], np.int64), "shape")]
    return _model(
        nodes, "constant_of_shape_raw", [_vi("x", F, [2, 4])], [_vi("y", F, [2, 4])], inits
    )


def cast_truncation() -> onnx.ModelProto:
    """x.long().float(): truncation toward zero, not an identity."""
    nodes = [
        helper.make_node("Mul", ["x", "three"], ["x3"]),
        helper.make_node("Cast", ["x3"], ["l"], to=I64),
        helper.make_node("Cast", ["l"], ["y"], to=F),
    ]
    inits = [numpy_helper.from_array(np.array(3.0, np.float32), "three")]
    return _model(nodes, "cast_truncation", [_vi("x", F, [2, 4])], [_vi("y", F, [2, 4])], inits)


def topk_k_int64() -> onnx.ModelProto:
    """TopK with K as an int64 constant, and its indices cast to int64 then float."""
    nodes = [
        helper.make_node("TopK", ["x", "k"], ["v", "i"], axis=1),
        helper.make_node("Cast", ["v"], ["vi"], to=I64),
        helper.make_node("Add", ["vi", "i"], ["s"]),
        helper.make_node("Cast", ["s"], ["y"], to=F),
    ]
    inits = [numpy_helper.from_array(np.array([3], np.int64), "k")]
    return _model(nodes, "topk_k_int64", [_vi("x", F, [2, 6])], [_vi("y", F, [2, 3])], inits)


def int64_region() -> onnx.ModelProto:
    """A chain of int64 arithmetic: a fixer must not wrap every op in Casts back to int64."""
    nodes = [
        helper.make_node("Cast", ["x"], ["a"], to=I64),
        helper.make_node("Add", ["a", "one"], ["b"]),
        helper.make_node("Mul", ["b", "a"], ["c"]),
        helper.make_node("Sub", ["c", "one"], ["d"]),
        helper.make_node("Div", ["d", "two"], ["e"]),
        helper.make_node("Cast", ["e"], ["y"], to=F),
    ]
    inits = [
        numpy_helper.from_array(np.array(1, np.int64), "one"),
        numpy_helper.from_array(np.array(2, np.int64), "two"),
    ]
    return _model(nodes, "int64_region", [_vi("x", F, [2, 4])], [_vi("y", F, [2, 4])], inits)


def one_rule_fails() -> onnx.ModelProto:
    """A fixable int64 Cast next to an op no pass rewrites for ascend310 (Trilu, opset 14)."""
    nodes = [
        helper.make_node("Cast", ["x"], ["l"], to=I64),
        helper.make_node("Cast", ["l"], ["f"], to=F),
        helper.make_node("Relu", ["f"], ["y"]),
        helper.make_node("Trilu", ["x"], ["z"], upper=1),
    ]
    return _model(
        nodes, "one_rule_fails", [_vi("x", F, [4, 4])],
        [_vi("y", F, [4, 4]), _vi("z", F, [4, 4])], opset=14,
    )  # fmt: skip


SEEDS = {
    "if_subgraph_int64": if_subgraph_int64,
    "constant_of_shape_raw": constant_of_shape_raw,
    "cast_truncation": cast_truncation,
    "topk_k_int64": topk_k_int64,
    "int64_region": int64_region,
    "one_rule_fails": one_rule_fails,
}


def main(out_dir: Path = HERE) -> None:
    """Write every seed model into ``out_dir``."""
    for name, build in SEEDS.items():
        onnx.save(build(), out_dir / f"{name}.onnx")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
