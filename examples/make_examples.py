"""Build the bundled example models: each reproduces a failure nnport exists to fix.

Deterministic (seeded weights, no network): ``python examples/make_examples.py`` rewrites them.

| file                  | what users hit                                                        |
| --------------------- | --------------------------------------------------------------------- |
| cast_int64.onnx       | Cast to int64 ("trans_cast failed" on Ascend ATC)                     |
| tile_broadcast.onnx   | Tile whose repeats come from Shape, feeding a broadcasting Mul (NNIE) |
| tile_vector_mul.onnx  | tf.tile of a computed (1,1,1,128) gate to (1,1,94,128), then Mul (NNIE) |
| gather_elements.onnx  | MindSpore GatherD exported as GatherElements, int64 indices input     |
| lp_normalization.onnx | MindSpore L2Normalize exported as LpNormalization, dynamic batch      |
| dynamic_input.onnx    | PyTorch export with dynamic N,H,W and a Shape->Gather->Concat chain   |
| opset17.onnx          | opset 17 export with LayerNormalization (ATC accepts opset 9..13)     |
| demo.onnx             | a small CNN classifier with several of the above at once              |
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
FLOAT, INT64 = TensorProto.FLOAT, TensorProto.INT64


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _init(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(array, name)


def _model(graph: onnx.GraphProto, opset: int) -> onnx.ModelProto:
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="nnport-examples",
        producer_version="1",
    )
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def cast_int64() -> onnx.ModelProto:
    """Quantize-like head: Floor(x*10) cast to int64 and back (PyTorch's .long())."""
    rng = _rng(1)
    w = rng.standard_normal((8, 16)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="MatMul_0"),
        helper.make_node("Mul", ["h", "ten"], ["h10"], name="Mul_1"),
        helper.make_node("Floor", ["h10"], ["fl"], name="Floor_2"),
        helper.make_node("Cast", ["fl"], ["as_long"], name="Cast_3", to=INT64),
        helper.make_node("Cast", ["as_long"], ["as_float"], name="Cast_4", to=FLOAT),
        helper.make_node("Mul", ["as_float", "tenth"], ["y"], name="Mul_5"),
    ]
    graph = helper.make_graph(
        nodes,
        "cast_int64",
        [helper.make_tensor_value_info("x", FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", FLOAT, [1, 16])],
        [
            _init("w", w),
            _init("ten", np.array(10.0, np.float32)),
            _init("tenth", np.array(0.1, np.float32)),
        ],
    )
    return _model(graph, 13)


def tile_broadcast() -> onnx.ModelProto:
    """tf.tile of a (1,1,1,128) vector to the feature map's height, then a broadcasting Mul."""
    rng = _rng(2)
    v = rng.standard_normal((1, 1, 1, 128)).astype(np.float32)
    nodes = [
        helper.make_node("Shape", ["feat"], ["feat_shape"], name="Shape_0"),
        helper.make_node("Gather", ["feat_shape", "two"], ["h"], name="Gather_1", axis=0),
        helper.make_node("Concat", ["one_one", "h", "one"], ["repeats"], name="Concat_2", axis=0),
        helper.make_node("Tile", ["v", "repeats"], ["tiled"], name="Tile_3"),
        helper.make_node("Mul", ["feat", "tiled"], ["y"], name="Mul_4"),
    ]
    graph = helper.make_graph(
        nodes,
        "tile_broadcast",
        [helper.make_tensor_value_info("feat", FLOAT, [1, 1, 94, 128])],
        [helper.make_tensor_value_info("y", FLOAT, [1, 1, 94, 128])],
        [
            _init("v", v),
            _init("two", np.array([2], np.int64)),
            _init("one_one", np.array([1, 1], np.int64)),
            _init("one", np.array([1], np.int64)),
        ],
    )
    return _model(graph, 13)


def tile_vector_mul() -> onnx.ModelProto:
    """The NNIE users' case: a computed (1,1,1,128) gate tiled to (1,1,94,128) for a Mul."""
    nodes = [
        helper.make_node("Sigmoid", ["vec"], ["gate"], name="Sigmoid_0"),
        helper.make_node("Tile", ["gate", "repeats"], ["tiled"], name="Tile_1"),
        helper.make_node("Mul", ["feat", "tiled"], ["y"], name="Mul_2"),
    ]
    graph = helper.make_graph(
        nodes,
        "tile_vector_mul",
        [
            helper.make_tensor_value_info("feat", FLOAT, [1, 1, 94, 128]),
            helper.make_tensor_value_info("vec", FLOAT, [1, 1, 1, 128]),
        ],
        [helper.make_tensor_value_info("y", FLOAT, [1, 1, 94, 128])],
        [_init("repeats", np.array([1, 1, 94, 1], np.int64))],
    )
    return _model(graph, 13)


def gather_elements() -> onnx.ModelProto:
    """CenterNet-style feature gathering: GatherElements with an int64 index input (GatherD)."""
    rng = _rng(3)
    w = rng.standard_normal((4, 4, 1, 1)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["feat"], name="Conv_0"),
        helper.make_node("Reshape", ["feat", "flat_shape"], ["flat"], name="Reshape_1"),
        helper.make_node("GatherElements", ["flat", "ind"], ["y"], name="GatherElements_2", axis=2),
    ]
    graph = helper.make_graph(
        nodes,
        "gather_elements",
        [
            helper.make_tensor_value_info("x", FLOAT, [1, 4, 8, 8]),
            helper.make_tensor_value_info("ind", INT64, [1, 4, 16]),
        ],
        [helper.make_tensor_value_info("y", FLOAT, [1, 4, 16])],
        [_init("w", w), _init("flat_shape", np.array([1, 4, 64], np.int64))],
    )
    return _model(graph, 13)


def lp_normalization() -> onnx.ModelProto:
    """An embedding head: Gemm then L2 normalization (MindSpore L2Normalize), dynamic batch."""
    rng = _rng(4)
    w = (rng.standard_normal((16, 32)) * 0.2).astype(np.float32)
    b = (rng.standard_normal((16,)) * 0.1).astype(np.float32)
    nodes = [
        helper.make_node("Gemm", ["x", "w", "b"], ["emb"], name="Gemm_0", transB=1),
        helper.make_node("LpNormalization", ["emb"], ["y"], name="LpNormalization_1", axis=1, p=2),
    ]
    graph = helper.make_graph(
        nodes,
        "lp_normalization",
        [helper.make_tensor_value_info("x", FLOAT, ["batch", 32])],
        [helper.make_tensor_value_info("y", FLOAT, ["batch", 16])],
        [_init("w", w), _init("b", b)],
    )
    return _model(graph, 13)


def _conv_stack(rng: np.random.Generator, cin: int, cout: int) -> list[onnx.TensorProto]:
    return [
        _init("conv_w", (rng.standard_normal((cout, cin, 3, 3)) * 0.3).astype(np.float32)),
        _init("conv_b", (rng.standard_normal((cout,)) * 0.1).astype(np.float32)),
    ]


def dynamic_input() -> onnx.ModelProto:
    """PyTorch-style export with dynamic N,H,W and x.view(x.size(0), -1) as a Shape chain."""
    rng = _rng(5)
    inits = _conv_stack(rng, 3, 8)
    inits += [
        _init("fc_w", (rng.standard_normal((8, 10)) * 0.3).astype(np.float32)),
        _init("zero", np.array(0, np.int64)),
        _init("axes0", np.array([0], np.int64)),
        _init("minus_one", np.array([-1], np.int64)),
    ]
    nodes = [
        helper.make_node(
            "Conv", ["x", "conv_w", "conv_b"], ["c"], name="Conv_0", pads=[1, 1, 1, 1]
        ),
        helper.make_node("Relu", ["c"], ["r"], name="Relu_1"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="GlobalAveragePool_2"),
        helper.make_node("Shape", ["p"], ["p_shape"], name="Shape_3"),
        helper.make_node("Gather", ["p_shape", "zero"], ["n"], name="Gather_4", axis=0),
        helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"], name="Unsqueeze_5"),
        helper.make_node("Concat", ["n1", "minus_one"], ["flat_shape"], name="Concat_6", axis=0),
        helper.make_node("Reshape", ["p", "flat_shape"], ["flat"], name="Reshape_7"),
        helper.make_node("MatMul", ["flat", "fc_w"], ["y"], name="MatMul_8"),
    ]
    graph = helper.make_graph(
        nodes,
        "dynamic_input",
        [helper.make_tensor_value_info("x", FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("y", FLOAT, ["N", 10])],
        inits,
    )
    return _model(graph, 13)


def opset17() -> onnx.ModelProto:
    """A transformer-style block exported at opset 17: MatMul, LayerNormalization, Gelu-free."""
    rng = _rng(6)
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="MatMul_0"),
        helper.make_node(
            "LayerNormalization",
            ["h", "gamma", "beta"],
            ["ln"],
            name="LayerNorm_1",
            axis=-1,
            epsilon=1e-5,
        ),
        helper.make_node("ReduceMean", ["ln", "axes"], ["y"], name="ReduceMean_2", keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "opset17",
        [helper.make_tensor_value_info("x", FLOAT, [1, 6, 16])],
        [helper.make_tensor_value_info("y", FLOAT, [1, 16])],
        [
            _init("w", (rng.standard_normal((16, 16)) * 0.3).astype(np.float32)),
            _init("gamma", (1 + 0.1 * rng.standard_normal(16)).astype(np.float32)),
            _init("beta", (0.1 * rng.standard_normal(16)).astype(np.float32)),
            _init("axes", np.array([1], np.int64)),
        ],
    )
    # ReduceMean takes axes as an input only from opset 18; use the attribute form at 17.
    graph.node[2].input.pop()
    graph.node[2].attribute.append(helper.make_attribute("axes", [1]))
    graph.initializer.pop()
    return _model(graph, 17)


def demo() -> onnx.ModelProto:
    """A small CNN classifier: dynamic batch, opset 17, int64 Cast, Tile, L2-normalized output."""
    rng = _rng(7)
    inits = _conv_stack(rng, 3, 8)
    inits += [
        _init("fc_w", (rng.standard_normal((8, 10)) * 0.3).astype(np.float32)),
        _init("fc_b", (rng.standard_normal((10,)) * 0.1).astype(np.float32)),
        _init("scale", (1 + 0.1 * rng.standard_normal((1, 8, 1, 1))).astype(np.float32)),
        _init("tile_reps", np.array([1, 1, 16, 16], np.int64)),
        _init("bins", np.array(4.0, np.float32)),
    ]
    nodes = [
        helper.make_node(
            "Conv", ["image", "conv_w", "conv_b"], ["c"], name="conv1", pads=[1, 1, 1, 1]
        ),
        helper.make_node("HardSwish", ["c"], ["a"], name="act1"),
        helper.make_node("Tile", ["scale", "tile_reps"], ["scale_map"], name="tile_scale"),
        helper.make_node("Mul", ["a", "scale_map"], ["s"], name="mul_scale"),
        helper.make_node("GlobalAveragePool", ["s"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], name="fc"),
        helper.make_node("Mul", ["logits", "bins"], ["scaled"], name="quant_scale"),
        helper.make_node("Floor", ["scaled"], ["floored"], name="quant_floor"),
        helper.make_node("Cast", ["floored"], ["q64"], name="quant_cast_int64", to=INT64),
        helper.make_node("Cast", ["q64"], ["qf"], name="quant_cast_float", to=FLOAT),
        helper.make_node("Div", ["qf", "bins"], ["deq"], name="dequant"),
        helper.make_node("LpNormalization", ["deq"], ["embedding"], name="l2norm", axis=1, p=2),
    ]
    graph = helper.make_graph(
        nodes,
        "demo",
        [helper.make_tensor_value_info("image", FLOAT, ["batch", 3, 16, 16])],
        [helper.make_tensor_value_info("embedding", FLOAT, ["batch", 10])],
        inits,
    )
    return _model(graph, 17)


EXAMPLES = {
    "cast_int64": cast_int64,
    "tile_broadcast": tile_broadcast,
    "tile_vector_mul": tile_vector_mul,
    "gather_elements": gather_elements,
    "lp_normalization": lp_normalization,
    "dynamic_input": dynamic_input,
    "opset17": opset17,
    "demo": demo,
}


def main(out_dir: Path = HERE) -> None:
    """Write every example into ``out_dir``."""
    for name, build in EXAMPLES.items():
        onnx.save(build(), out_dir / f"{name}.onnx")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
