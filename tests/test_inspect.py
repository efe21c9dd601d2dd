"""``inspect`` on real exports and the bundled examples, in the terminal and as JSON."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import nnport
from nnport.model.summary import Summary
from nnport.results import loads


def test_inspect_resnet18_matches_the_exporters_graph(resnet18_export: Path) -> None:
    proto = onnx.load(resnet18_export)
    summary = nnport.inspect(nnport.load(resnet18_export))
    assert summary.op_histogram == dict(Counter(n.op_type for n in proto.graph.node))
    assert summary.node_count == len(proto.graph.node)
    assert summary.opsets == {"ai.onnx": 17}
    assert summary.producer_name == "pytorch"
    (inp,) = summary.inputs
    assert (inp.name, inp.dtype, inp.shape, inp.dynamic) == (
        "input",
        "float32",
        (1, 3, 224, 224),
        False,
    )
    (out,) = summary.outputs
    assert (out.name, out.shape) == ("logits", (1, 1000))
    arrays = [numpy_helper.to_array(t) for t in proto.graph.initializer]
    assert summary.parameter_count == sum(a.size for a in arrays)
    assert summary.parameter_bytes == sum(a.nbytes for a in arrays)
    assert summary.parameter_count > 11_000_000
    assert summary.dynamic_inputs == ()


def test_inspect_flags_dynamic_dims_of_a_dynamic_torch_export(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.squeezenet1_1(weights=None).eval()
    path = tmp_path / "squeeze.onnx"
    torch.onnx.export(
        model,
        (torch.randn(1, 3, 64, 64),),
        str(path),
        input_names=["x"],
        output_names=["y"],
        dynamic_axes={"x": {0: "batch", 2: "height", 3: "width"}, "y": {0: "batch"}},
        opset_version=13,
        dynamo=False,
    )
    summary = nnport.inspect(nnport.load(path))
    (inp,) = summary.inputs
    assert inp.shape == ("batch", 3, "height", "width")
    assert inp.dynamic
    assert summary.dynamic_inputs == ("x",)
    assert summary.outputs[0].shape == ("batch", 1000)


def test_inspect_examples(examples_dir: Path) -> None:
    cast = nnport.inspect(nnport.load(examples_dir / "cast_int64.onnx"))
    assert cast.op_histogram["Cast"] == 2
    dyn = nnport.inspect(nnport.load(examples_dir / "dynamic_input.onnx"))
    assert dyn.inputs[0].shape == ("N", 3, "H", "W")
    assert dyn.inputs[0].shape_text() == "[N,3,H,W]"
    assert nnport.inspect(nnport.load(examples_dir / "opset17.onnx")).opsets == {"ai.onnx": 17}
    gather = nnport.inspect(nnport.load(examples_dir / "gather_elements.onnx"))
    assert [(i.name, i.dtype) for i in gather.inputs] == [("x", "float32"), ("ind", "int64")]


def test_inspect_custom_domains_and_subgraphs() -> None:
    text = """
    <ir_version: 8, opset_import: ["" : 13, "com.microsoft" : 1]>
    g (float[N] x, bool c) => (float[N] y) {
        z = com.microsoft.Gelu(x)
        y = If(c) <then_branch = t () => (float[N] a) { a = Relu(z) },
                   else_branch = e () => (float[N] b) { b = Neg(z) }>
    }
    """
    import onnx_ir as ir

    model = ir.serde.deserialize_model(onnx.parser.parse_model(text))
    summary = nnport.inspect(model)
    assert summary.custom_domains == ("com.microsoft",)
    assert summary.op_histogram["com.microsoft::Gelu"] == 1
    assert summary.node_count == 2
    assert summary.node_count_total == 4
    assert summary.inputs[1].dtype == "bool"


def test_inspect_json_is_stable_and_round_trips(cli, examples_dir: Path) -> None:
    result = cli("inspect", examples_dir / "demo.onnx", "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["schema"] == "nnport.summary/1"
    assert set(data) >= {
        "path",
        "ir_version",
        "producer_name",
        "opsets",
        "inputs",
        "outputs",
        "dynamic_inputs",
        "node_count",
        "op_histogram",
        "parameter_count",
        "parameter_bytes",
        "external_data_files",
        "custom_domains",
    }
    assert data["inputs"] == [
        {"name": "image", "dtype": "float32", "shape": ["batch", 3, 16, 16], "dynamic": True}
    ]
    assert data["opsets"] == {"ai.onnx": 17}
    summary = loads(Summary, result.out)
    assert summary == nnport.inspect(nnport.load(examples_dir / "demo.onnx"))


def test_inspect_terminal_output(cli, examples_dir: Path) -> None:
    result = cli("inspect", examples_dir / "demo.onnx")
    assert result.code == 0
    assert "dynamic" in result.out
    assert "LpNormalization" in result.out
    assert "[batch,3,16,16]" in result.out


def test_loaded_model_runs_like_the_file(examples_dir: Path) -> None:
    """What nnport loads is the same graph ONNX Runtime runs from the file."""
    from nnport.backends import make_runner

    path = examples_dir / "cast_int64.onnx"
    x = {"x": np.linspace(-1, 1, 8, dtype=np.float32).reshape(1, 8)}
    with make_runner("onnxruntime", nnport.load(path)) as a, make_runner("onnxruntime", path) as b:
        np.testing.assert_array_equal(a.infer(x)["y"], b.infer(x)["y"])
