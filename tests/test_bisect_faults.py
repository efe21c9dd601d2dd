"""bisect: injected faults in a copy of a real ResNet-18 are found at exactly the faulty node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx_ir as ir
import pytest
from rich.console import Console

from nnport.model import load, save
from nnport.report.compare import render_compare
from nnport.results import loads
from nnport.verify.compare import CompareOptions, CompareResult, compare


def _perturb_conv(source: Path, index: int, out: Path) -> str:
    """Copy the model with one Conv's weights changed (one output channel shifted); its name."""
    model = load(source)
    conv = [n for n in model.graph if n.op_type == "Conv"][index]
    weight = conv.inputs[1]
    assert weight is not None and weight.const_value is not None
    array = weight.const_value.numpy().copy()
    array[0] += 0.05
    weight.const_value = ir.tensor(array, name=weight.name)
    save(model, out)
    return conv.name or ""


def _flip_add(model: ir.Model, index: int) -> str:
    node = [n for n in model.graph if n.op_type == "Add"][index]
    node.op_type = "Sub"
    return node.name or ""


def test_bisect_names_the_perturbed_conv(resnet18_export: Path, tmp_path: Path, cli: Any) -> None:
    faulty = tmp_path / "faulty.onnx"
    name = _perturb_conv(resnet18_export, 9, faulty)
    run = cli(
        "compare", resnet18_export, "--against", faulty, "-b", "onnxruntime", "--bisect", "--json"
    )
    assert run.code == 1, run.err
    result = loads(CompareResult, run.out)
    assert not result.passed
    assert result.bisect is not None and result.bisect.found
    assert result.bisect.node == name and result.bisect.op == "Conv"
    # every tensor before the fault agrees exactly (same runtime, same weights), and is listed
    before = result.bisect.tensors[:-1]
    assert len(before) == result.bisect.position and len(before) > 5
    assert all(t.passed and t.max_abs_err == 0.0 for t in before)
    assert result.bisect.tensors[-1].max_abs_err > 1e-2
    console = Console(record=True, width=100)
    console.print(render_compare(result))
    assert f"first divergence at node {name!r}" in console.export_text()


def test_bisect_names_a_flipped_add_over_several_samples(resnet18_export: Path) -> None:
    reference = load(resnet18_export)
    faulty = load(resnet18_export)
    name = _flip_add(faulty, 1)
    options = CompareOptions(samples=2, seed=7, bisect=True)
    result = compare(reference, against=faulty, backend="onnxruntime", options=options)
    assert result.bisect is not None
    assert result.bisect.node == name and result.bisect.op == "Add"
    assert result.bisect.samples == 2 and result.bisect.tensors[-1].samples == 2
    assert [n.op_type for n in reference.graph].count("Sub") == 0  # the reference is untouched
    order = [n.name for n in reference.graph]
    positions = [order.index(t.node) for t in result.bisect.tensors if t.node in order]
    assert positions == sorted(positions) and len(positions) == len(result.bisect.tensors)
    assert np.isfinite([t.max_abs_err for t in result.bisect.tensors]).all()


def test_bisect_across_backends_openvino_candidate(resnet18_export: Path) -> None:
    pytest.importorskip("openvino")
    reference = load(resnet18_export)
    faulty = load(resnet18_export)
    name = _flip_add(faulty, 0)
    options = CompareOptions(bisect=True, backend_options={"threads": 1})
    result = compare(reference, against=faulty, backend="openvino", options=options)
    assert result.bisect is not None and result.bisect.node == name
    assert all(t.passed for t in result.bisect.tensors[:-1])
    assert result.candidate.config["precision"] == "f32"


def test_bisect_respects_the_byte_budget_and_reports_no_divergence(examples_dir: Path) -> None:
    model = load(examples_dir / "opset17.onnx")
    options = CompareOptions(bisect=True, bisect_budget_bytes=1, samples=2)
    seen: list[str] = []
    result = compare(model, backend="reference", options=options, progress=seen.append)
    assert result.passed and result.bisect is not None
    assert not result.bisect.found and result.bisect.node is None
    # a 1-byte budget allows one tensor per run: never more than one extra output at once
    assert result.bisect.runs == result.bisect.compared == result.bisect.total > 1
    total = result.bisect.total  # progress after every run, ending at the whole graph
    assert seen == [f"bisect: {n} of {total} tensors compared" for n in range(1, total + 1)]


@pytest.mark.slow
def test_bisect_across_backends_ncnn_candidate(resnet18_export: Path) -> None:
    """ncnn converts a prefix model (with external weights) per chunk: slow, but exact."""
    pytest.importorskip("ncnn")
    reference = load(resnet18_export)
    faulty = load(resnet18_export)
    name = _flip_add(faulty, 0)
    options = CompareOptions(bisect=True, backend_options={"threads": 1})
    result = compare(reference, against=faulty, backend="ncnn", options=options)
    assert result.bisect is not None and result.bisect.node == name
    assert all(t.passed for t in result.bisect.tensors[:-1])


def test_bisect_sizes_dynamic_tensors_from_the_feeds_and_what_it_measured(tmp_path: Path) -> None:
    """A dynamic image size (a detector's) leaves shape inference no static size. Dims named
    like the input's are bound from the feeds, dims born inside the graph from the first tensor
    measured with them: after one pooled tensor is fetched, the 40 small tensors after it go in
    one run, not one run each as with the largest tensor seen so far as the estimate."""
    import onnx
    import onnx.parser

    body = "\n".join(f"r{i + 1} = Relu(r{i})" for i in range(40))
    text = f"""
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[1, 3, H, W] x) => (float[1, 3, h, w] r40) {{
            big = Relu(x)
            r0 = AveragePool<kernel_shape = [8, 8], strides = [8, 8]>(big)
            {body}
        }}
    """
    model = ir.serde.deserialize_model(onnx.parser.parse_model(text))
    feeds = tmp_path / "feeds.npz"
    np.savez(feeds, x=np.random.default_rng(0).random((1, 3, 1024, 1024), dtype=np.float32))
    options = CompareOptions(bisect=True, inputs=str(feeds))
    result = compare(model, backend="onnxruntime", options=options)
    assert result.bisect is not None and not result.bisect.found
    assert result.bisect.compared == result.bisect.total == 42
    assert result.bisect.runs <= 4  # big, the pooled r0, then r1..r40 together
