"""``nnport port``: the main job end to end on the bundled examples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import nnport
from nnport.backends import make_runner
from nnport.pipeline import PortOptions, PortResult, port
from nnport.results import dumps, loads


def test_port_demo_to_ascend310(cli, tmp_path: Path, examples_dir: Path) -> None:
    source = examples_dir / "demo.onnx"
    before = source.read_bytes()
    out = tmp_path / "out"
    result = cli("port", source, "--target", "ascend310", "-o", out, "--iterations", "3")
    assert result.code == 0, result.out + result.err
    assert "READY" in result.out
    assert "atc --model=" in result.out and "--soc_version=Ascend310" in result.out
    assert source.read_bytes() == before
    fixed = out / "demo.ascend310.onnx"
    report = json.loads((out / "report.json").read_text())
    assert report["deployable"] and report["verified"]
    assert {v["rule"] for v in report["check_before"]["violations"]} >= {
        "dtype-unsupported",
        "opset-out-of-range",
        "dynamic-shape",
    }
    assert report["check_after"]["violations"] == []
    assert "READY" in (out / "report.html").read_text()
    # The fixed file on disk computes what the original computes.
    x = {"image": np.random.default_rng(5).standard_normal((1, 3, 16, 16)).astype(np.float32)}
    with make_runner("onnxruntime", source) as a, make_runner("onnxruntime", fixed) as b:
        np.testing.assert_allclose(a.infer(x)["embedding"], b.infer(x)["embedding"], atol=1e-6)
    assert nnport.inspect(nnport.load(fixed)).opsets["ai.onnx"] <= 13


def test_port_result_round_trips_json(tmp_path: Path, examples_dir: Path) -> None:
    model = nnport.load(examples_dir / "cast_int64.onnx")
    result = port(model, "ascend310", tmp_path, PortOptions(bench_iterations=0))
    assert result.ok
    assert [s.name for s in result.stages][:3] == ["check", "fix", "re-check"]
    back = loads(PortResult, dumps(result))
    assert back.target == "ascend310"
    assert back.fix.passes == result.fix.passes
    assert back.check_before == result.check_before


def test_port_reports_what_remains_with_exit_1(cli, tmp_path: Path) -> None:
    """A Tile that does not broadcast and cannot be rewritten on NNIE stays, with exit 1."""
    onnx = pytest.importorskip("onnx")
    text = """
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1,3,4,4] x) => (float[1,3,4,8] y) {
        r = Constant <value = int64[4] {1, 1, 1, 2}> ()
        t = Tile(x, r)
        y = Sin(t)
    }
    """
    path = tmp_path / "tile.onnx"
    onnx.save(onnx.parser.parse_model(text), path)
    result = cli("port", path, "--target", "nnie", "-o", tmp_path / "out", "--iterations", "0")
    assert result.code == 1, result.out + result.err
    assert "NOT READY" in result.out
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["check_after"]["violations"]


def test_port_bad_input(cli, tmp_path: Path, examples_dir: Path) -> None:
    result = cli("port", examples_dir / "demo.onnx", "-t", "no-such-npu", "-o", tmp_path / "o")
    assert result.code == 2
    assert "unknown target" in result.err
    assert not (tmp_path / "o").exists()
    a_file = tmp_path / "file"
    a_file.write_text("x")
    result = cli("port", examples_dir / "demo.onnx", "-t", "ascend310", "-o", a_file)
    assert result.code == 2
    assert "not a folder" in result.err
    result = cli("port", examples_dir / "demo.onnx", "-t", "ascend310", "-o", tmp_path / "o2",
                 "--input-shape", "image:1x3")  # fmt: skip
    assert result.code == 2
    assert "rank" in result.err


def test_port_to_openvino_converts_compares_and_records_precision(
    tmp_path: Path, examples_dir: Path
) -> None:
    pytest.importorskip("openvino")
    model = nnport.load(examples_dir / "demo.onnx")
    result = port(model, "openvino", tmp_path, PortOptions(bench_iterations=2))
    assert result.ok, result.stages
    assert [c.to for c in result.conversions] == ["openvino"]
    assert Path(result.conversions[0].artifact).is_file()
    backends = {c.candidate.backend: c for c in result.compares}
    assert set(backends) == {"onnxruntime", "openvino"}
    assert backends["openvino"].candidate.config["precision"] == "f32"
    assert backends["openvino"].rtol == PortOptions().runtime_rtol
    assert result.bench is not None
    assert {t.backend for t in result.bench.timings} == {"onnxruntime", "openvino"}


def test_a_failed_stage_means_not_ready(tmp_path: Path, examples_dir: Path) -> None:
    import dataclasses

    from nnport.pipeline import Stage

    model = nnport.load(examples_dir / "cast_int64.onnx")
    result = port(model, "ascend310", tmp_path, PortOptions(bench_iterations=0))
    assert result.ok
    broken = dataclasses.replace(
        result, stages=(*result.stages, Stage("convert ncnn", "failed", 0.1, "no layer"))
    )
    assert not broken.ok


def test_port_compares_like_the_compare_verb_and_bisects_only_a_failure(
    tmp_path: Path, examples_dir: Path
) -> None:
    """port's compare stage is the compare verb: an agreeing pair is run once per sample, not
    bisected tensor by tensor (that made the stage 35x the verb on a Whisper-tiny encoder)."""
    model = nnport.load(examples_dir / "demo.onnx")
    result = port(model, "openvino", tmp_path, PortOptions(bench_iterations=0))
    assert result.compares and all(c.passed for c in result.compares)
    assert all(c.bisect is None for c in result.compares)


def test_compare_bisect_on_failure_bisects_a_failing_pair(examples_dir: Path) -> None:
    from nnport.verify.compare import CompareOptions, compare

    model = nnport.load(examples_dir / "demo.onnx")
    faulty = nnport.load(examples_dir / "demo.onnx")
    node = next(n for n in faulty.graph if n.op_type in ("Add", "Mul", "Sub", "Div", "Relu"))
    node.op_type = {"Add": "Sub", "Sub": "Add", "Mul": "Div", "Div": "Mul", "Relu": "Neg"}[
        node.op_type
    ]
    options = CompareOptions(input_shapes={"image": (1, 3, 16, 16)}, bisect_on_failure=True)
    result = compare(model, against=faulty, options=options)
    assert not result.passed
    assert result.bisect is not None and result.bisect.found
    agreeing = compare(model, against=model, options=options)
    assert agreeing.passed and agreeing.bisect is None


def test_port_feeds_a_retyped_input_what_each_model_expects(tmp_path: Path) -> None:
    """A T5-like encoder's int64 input_ids become float32 on Ascend (cast-graph-io): port's
    compare feeds the original int64 and the fixed model float32 (same ids), and the report
    says how the interface changed."""
    import onnx

    table = ",".join(str(i / 10) for i in range(16 * 4))
    text = f"""
    <ir_version: 8, opset_import: ["" : 13]>
    g (int64[1,8] input_ids) => (float[1,8,4] hidden) {{
        table = Constant <value = float[16,4] {{{table}}}> ()
        emb = Gather(table, input_ids)
        hidden = Tanh(emb)
    }}
    """
    path = tmp_path / "t5ish.onnx"
    onnx.save(onnx.parser.parse_model(text), path)
    result = port(nnport.load(path), "ascend310", tmp_path / "out", PortOptions(bench_iterations=2))
    fixed = nnport.load(result.output)
    assert [v.dtype for v in fixed.graph.inputs] == [nnport.load(path).graph.inputs[0].dtype.FLOAT]
    assert result.compares and all(c.passed for c in result.compares), result.stages
    assert result.ok, result.stages
    assert result.interface == ("input 'input_ids': int64[1,8] -> float32[1,8]",)
    back = loads(PortResult, dumps(result))
    assert back.interface == result.interface
    from nnport.report.html import render_html

    assert "interface changed" in render_html(result)


def _nested_ifs(depth: int) -> object:
    """A full binary tree of Ifs ``depth`` levels deep, every branch reading ``x`` from outside."""
    from onnx import TensorProto, helper

    count = [0]

    def branch(level: int) -> object:
        count[0] += 1
        out = f"y{count[0]}"
        if level == depth:
            nodes = [helper.make_node("Add", ["x", "x"], [out])]
        else:
            inner = f"i{count[0]}"
            nodes = [
                helper.make_node(
                    "If", ["c"], [inner], then_branch=branch(level + 1),
                    else_branch=branch(level + 1),
                ),
                helper.make_node("Relu", [inner], [out]),
            ]  # fmt: skip
        value = helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, 4])
        return helper.make_graph(nodes, f"g{count[0]}", [], [value])

    top = helper.make_node("If", ["c"], ["y"], then_branch=branch(1), else_branch=branch(1))
    graph = helper.make_graph(
        [top],
        "nested",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4]),
            helper.make_tensor_value_info("c", TensorProto.BOOL, []),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def test_port_on_nested_ifs_runs_each_model_once_per_sample(tmp_path: Path) -> None:
    """Deep subgraph nesting (issue 21: a 4,095-If model took over 5 minutes in port -t openvino):
    port converts and compares it without a tensor-by-tensor bisect of the agreeing pair, which
    ran the nested model once per chunk of its tensors (quadratic in its size).
    benchmarks/nested_if.py measures time against the node count."""
    pytest.importorskip("openvino")
    import onnx

    path = tmp_path / "nested.onnx"
    onnx.save(_nested_ifs(5), path)  # type: ignore[arg-type]
    result = port(nnport.load(path), "openvino", tmp_path / "out", PortOptions(bench_iterations=0))
    assert {c.candidate.backend for c in result.compares} == {"onnxruntime", "openvino"}
    assert all(c.passed and c.bisect is None for c in result.compares), result.stages
