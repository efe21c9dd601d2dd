"""fix and port verify in the target's number format and repair a model that breaks in it:
the overflow region kept in fp32 (ATC's --keep_dtype file), bisection for precision loss, and
nnport's own LayerNorm decomposition fp16-safe. Real ONNX Runtime runs of the fp16 emulation."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx_ir as ir
import pytest
from onnx import TensorProto, helper, numpy_helper

from nnport.passes.keep_fp32 import overflow_region, verify_precision
from nnport.passes.planner import FixOptions, FixResult, fix
from nnport.passes.verify import run_model
from nnport.precision.emulate import run_emulated
from nnport.results import dumps, loads

Cli = Callable[..., Any]  # the conftest ``cli`` fixture: (code, out, err) of one run


def _rms_model() -> onnx.ModelProto:
    """x @ W (values in the thousands), then an RMS norm: the squares overflow fp16 and their
    mean still does; the square root is back in range."""
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((64, 64)) * 300).astype(np.float32)
    head = (rng.standard_normal((64, 10)) * 0.1).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["h"], name="proj"),
        helper.make_node("Mul", ["h", "h"], ["sq"], name="square"),
        helper.make_node("ReduceMean", ["sq"], ["ms"], name="mean_square", axes=[-1]),
        helper.make_node("Sqrt", ["ms"], ["rms"], name="rms"),
        helper.make_node("Div", ["h", "rms"], ["n"], name="normalize"),
        helper.make_node("MatMul", ["n", "head"], ["y"], name="head"),
    ]
    graph = helper.make_graph(
        nodes,
        "rms",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(head, "head")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _plain_model() -> onnx.ModelProto:
    rng = np.random.default_rng(1)
    w = (rng.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["y"], name="relu"),
    ]
    graph = helper.make_graph(
        nodes,
        "plain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
        [numpy_helper.from_array(w, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _cancel_model(chain: int = 24) -> onnx.ModelProto:
    """A long chain of harmless scalings around x + 1000 − 1000: fp16 spaces values near 1000
    by 0.5, so the sum loses x's fraction (no overflow anywhere: only the search finds it)."""
    nodes = []
    prev = "x"
    for i in range(chain):
        nodes.append(helper.make_node("Mul", [prev, "one"], [f"a{i}"], name=f"pre{i}"))
        prev = f"a{i}"
    nodes.append(helper.make_node("Add", [prev, "big"], ["s"], name="add_big"))
    nodes.append(helper.make_node("Sub", ["s", "big"], ["d"], name="sub_big"))
    prev = "d"
    for i in range(chain):
        nodes.append(helper.make_node("Mul", [prev, "one"], [f"b{i}"], name=f"post{i}"))
        prev = f"b{i}"
    graph = helper.make_graph(
        nodes,
        "cancel",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, 16])],
        [
            numpy_helper.from_array(np.array(1.0, np.float32), "one"),
            numpy_helper.from_array(np.array(1000.0, np.float32), "big"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _feeds(model: ir.Model, n: int = 2) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    out = []
    for _ in range(n):
        feed = {}
        for value in model.graph.inputs:
            shape = tuple(int(d) for d in value.shape or ())
            feed[value.name or ""] = rng.standard_normal(shape).astype(np.float32)
        out.append(feed)
    return out


def _relative_error(model: ir.Model, keep: list[str], feeds: list[dict[str, np.ndarray]]) -> float:
    _engine, reference = run_model(model, feeds)
    worst = 0.0
    for feed, ref in zip(feeds, reference, strict=True):
        got = run_emulated(model, "fp16", feed, keep=keep)
        for name, a in ref.items():
            b = got[name]
            if not np.all(np.isfinite(b)):
                return math.inf
            worst = max(worst, float(np.max(np.abs(a - b)) / np.max(np.abs(a))))
    return worst


def test_fix_ascend_writes_the_overflow_region_to_keep_dtype(tmp_path: Path, cli: Cli) -> None:
    """The done-when case: fix -t ascend310 on a model whose intermediate exceeds fp16 writes a
    keep_dtype file with the overflowing nodes and the region downstream until values are back
    in range; the mixed model matches fp32 in emulation; keeping only the overflowing node does
    not (its consumer reads it back in fp16)."""
    onnx.save(_rms_model(), tmp_path / "rms.onnx")
    out = tmp_path / "rms.fixed.onnx"
    result = cli("fix", tmp_path / "rms.onnx", "-t", "ascend310", "-o", out, "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    keep_file = tmp_path / "rms.fixed.keep_dtype.cfg"
    kept = keep_file.read_text(encoding="utf-8").splitlines()
    assert kept == ["square", "mean_square", "rms"]
    precision = data["precision"]
    assert precision["format"] == "fp16" and precision["mode"] == "emulated"
    assert precision["broke"] and precision["passed"]
    assert precision["overflow"] == ["square", "mean_square"]
    assert precision["keep_file"] == str(keep_file)
    assert precision["runs"] <= precision["run_budget"]
    assert "--precision_mode=force_fp16" in data["atc_command"]
    assert f"--keep_dtype={keep_file}" in data["atc_command"]
    fixed = ir.load(out)
    feeds = _feeds(fixed)
    assert _relative_error(fixed, kept, feeds) <= 1e-2  # the mixed model matches fp32
    assert _relative_error(fixed, [], feeds) > 0.5  # plain fp16 breaks
    assert _relative_error(fixed, ["square"], feeds) > 0.5  # the overflowing node alone: not enough


def test_a_plain_model_passes_without_a_keep_file(tmp_path: Path, cli: Cli) -> None:
    onnx.save(_plain_model(), tmp_path / "plain.onnx")
    out = tmp_path / "plain.fixed.onnx"
    result = cli("fix", tmp_path / "plain.onnx", "-t", "ascend310", "-o", out)
    assert result.code == 0, result.err
    text = " ".join(result.out.split())
    assert "fp16 (emulated)" in text and "matches" in text
    assert not (tmp_path / "plain.fixed.keep_dtype.cfg").exists()
    assert "--precision_mode=force_fp16" in text
    assert "--keep_dtype" not in text


def test_precision_fp32_asks_atc_to_keep_the_origin_dtype(tmp_path: Path, cli: Cli) -> None:
    onnx.save(_rms_model(), tmp_path / "rms.onnx")
    out = tmp_path / "rms32.onnx"
    result = cli("fix", tmp_path / "rms.onnx", "-t", "ascend310", "-o", out, "--precision", "fp32",
                 "--json")  # fmt: skip
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["precision"]["format"] == "fp32" and data["precision"]["mode"] == "native"
    assert "--precision_mode=must_keep_origin_dtype" in data["atc_command"]
    assert not (tmp_path / "rms32.keep_dtype.cfg").exists()


def test_an_unknown_precision_is_refused(tmp_path: Path, cli: Cli) -> None:
    onnx.save(_plain_model(), tmp_path / "plain.onnx")
    result = cli("fix", tmp_path / "plain.onnx", "-t", "ascend310", "-o", tmp_path / "o.onnx",
                 "--precision", "fp12")  # fmt: skip
    assert result.code == 2
    assert "fp12" in result.err and len(result.err.strip().splitlines()) == 1
    assert not (tmp_path / "o.onnx").exists()


def test_overflow_region_ends_where_values_are_back_in_range() -> None:
    model = ir.serde.deserialize_model(_rms_model())
    overflowing, region = overflow_region(model, _feeds(model), "fp16")
    assert overflowing == ("square", "mean_square")
    assert region == ("square", "mean_square", "rms")
    assert overflow_region(model, _feeds(model), "bf16") == ((), ())


def test_bisection_finds_the_nodes_that_lose_precision_within_the_run_budget() -> None:
    """No value leaves fp16's range, but x + 1000 − 1000 loses x's fraction: the search keeps
    the sum and its reader, verified, in at most 2·log2(nodes) + 10 runs."""
    model = ir.serde.deserialize_model(_cancel_model())
    feeds = _feeds(model)
    report = verify_precision(model, "fp16", feeds)
    assert report.broke and report.passed, report
    assert report.overflow == ()
    assert {"add_big", "sub_big"} <= set(report.kept)
    assert len(report.kept) <= 4
    nodes = sum(1 for _ in model.graph)
    assert report.runs <= 2 * math.log2(nodes) + 10
    assert _relative_error(model, list(report.kept), feeds) <= 1e-2


def test_fix_result_with_precision_round_trips_json() -> None:
    model = ir.serde.deserialize_model(_rms_model())
    result = fix(model, "ascend310", options=FixOptions())
    assert result.precision is not None and result.precision.kept
    again = loads(FixResult, dumps(result.without_model()))
    assert again.precision == result.precision


def test_port_on_the_demo_says_which_format_it_verified(tmp_path: Path, cli: Cli) -> None:
    demo = Path(__file__).resolve().parents[1] / "examples" / "demo.onnx"
    result = cli("port", demo, "-t", "ascend310", "-o", tmp_path / "out", "--iterations", "0")
    assert result.code == 0, result.err
    text = " ".join(result.out.split())
    assert "verified in fp16 (emulated) (the target's default" in text
    assert "--precision_mode=force_fp16" in text
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert report["fix"]["precision"]["format"] == "fp16"
    assert any(s["name"] == "verify in fp16 (emulated)" for s in report["stages"])
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "precision: <b>fp16 (emulated)</b>" in page


def test_check_reports_the_precision_it_assumes(cli: Cli) -> None:
    demo = Path(__file__).resolve().parents[1] / "examples" / "demo.onnx"
    result = cli("check", demo, "-t", "ascend310", "--json")
    data = json.loads(result.out)
    assert data["precision"] == "fp16"
    assert "--precision_mode=force_fp16" in data["precision_note"]
    assert "source: Huawei CANN ATC" in data["precision_note"]
    text = " ".join(cli("check", demo, "-t", "nnie").out.split())
    assert "precision assumed: int8 (options: int16)" in text


@pytest.mark.parametrize("deviation", [300.0, 1000.0])
def test_layernorm_decomposition_stays_finite_in_fp16(deviation: float) -> None:
    """The decomposition divides deviations by their largest magnitude before squaring: with
    deviations of a few hundred the textbook form's squares overflow fp16 (inf, then 0 or
    NaN outputs); this one matches the fp32 LayerNorm in fp16 emulation."""
    from nnport.passes.decompose_layernorm import DecomposeLayerNormPass

    rng = np.random.default_rng(3)
    gamma = rng.standard_normal(32).astype(np.float32)
    beta = rng.standard_normal(32).astype(np.float32)
    node = helper.make_node("LayerNormalization", ["x", "g", "b"], ["y"], name="ln", axis=-1)
    graph = helper.make_graph(
        [node],
        "ln",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4, 32])],
        [numpy_helper.from_array(gamma, "g"), numpy_helper.from_array(beta, "b")],
    )
    original = ir.serde.deserialize_model(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    )
    decomposed = original.clone()
    assert DecomposeLayerNormPass()(decomposed).modified
    x = (rng.standard_normal((2, 4, 32)) * deviation + 5.0).astype(np.float32)
    x[1, 2] = 7.0  # a constant row: deviations all zero
    _e, (reference,) = run_model(original, [{"x": x}])
    got = run_emulated(decomposed, "fp16", {"x": x})["y"]
    assert np.all(np.isfinite(got))
    assert np.max(np.abs(got - reference["y"])) < 2e-2 * np.max(np.abs(reference["y"]))
    _e, (fp32,) = run_model(decomposed, [{"x": x}])
    np.testing.assert_allclose(fp32["y"], reference["y"], rtol=1e-4, atol=1e-4)


def test_every_profile_declares_its_number_format_with_a_source() -> None:
    from nnport.targets import list_targets, load_target

    expected = {"ascend310": "fp16", "ascend310p": "fp16", "nnie": "int8", "ncnn": "fp16",
                "tensorrt": "fp32", "openvino": "bf16", "onnxruntime": "fp32"}  # fmt: skip
    names = [t.name for t in list_targets()]
    assert set(expected) <= set(names)
    for name in names:
        precision = load_target(name).precision
        assert precision.source and precision.url, name
        assert precision.qdq in ("consumes", "calibrates"), name
        assert precision.default == expected.get(name, precision.default), name
    assert load_target("ascend310").precision.flags["fp16"] == "--precision_mode=force_fp16"
    assert load_target("ascend310").precision.keep_fp32 == "keep-dtype"


def test_the_generators_hold_the_shipped_precision_tables() -> None:
    """Generated profiles get [precision] from their generators' hand-recorded tables: what
    the generators would write is what ships (they regenerate byte-identical)."""
    import importlib.util
    import sys

    from nnport.targets import load_target

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "benchmarks"))
    try:
        from probe_profiles import PRECISION
    finally:
        sys.path.pop(0)
    for name, table in PRECISION.items():
        assert load_target(name).precision == table, name
    spec = importlib.util.spec_from_file_location(
        "gen_ort", root / "scripts" / "gen_onnxruntime_profile.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert load_target("onnxruntime").precision == module.PRECISION


def test_openvino_verifies_in_bf16_only_where_the_cpu_has_it() -> None:
    from nnport.passes.keep_fp32 import cpu_has_bf16, target_format
    from nnport.targets import load_target

    fmt, chosen = target_format(load_target("openvino"), None)
    assert fmt == ("bf16" if cpu_has_bf16() else "fp32")
    assert chosen.startswith("target default")
    assert target_format(load_target("openvino"), "fp16") == ("fp16", "--precision")


def test_a_target_without_a_per_node_fp32_list_fails_with_the_way_out(
    tmp_path: Path, cli: Cli
) -> None:
    """ncnn runs fp16 as a whole: a model that breaks in it cannot be repaired node by node,
    so fix says so (exit 1), lists the nodes, names the fp32 switch and writes no file."""
    onnx.save(_rms_model(), tmp_path / "rms.onnx")
    out = tmp_path / "rms.ncnn.onnx"
    result = cli("fix", tmp_path / "rms.onnx", "-t", "ncnn", "-o", out, "--json")
    assert result.code == 1, result.err
    precision = json.loads(result.out)["precision"]
    assert precision["broke"] and not precision["passed"]
    assert precision["kept"] == ["square", "mean_square", "rms"]
    assert "use_fp16_arithmetic = false" in precision["reason"]
    assert not (tmp_path / "rms.ncnn.keep_dtype.cfg").exists()
    again = cli("fix", tmp_path / "rms.onnx", "-t", "ncnn", "-o", out, "--precision", "fp32")
    assert again.code == 0, again.err


def test_port_writes_the_keep_set_beside_the_fixed_model(tmp_path: Path, cli: Cli) -> None:
    onnx.save(_rms_model(), tmp_path / "rms.onnx")
    result = cli("port", tmp_path / "rms.onnx", "-t", "ascend310", "-o", tmp_path / "out",
                 "--iterations", "0")  # fmt: skip
    assert result.code == 0, result.err
    keep = tmp_path / "out" / "rms.ascend310.keep_dtype.cfg"
    assert keep.read_text(encoding="utf-8").splitlines() == ["square", "mean_square", "rms"]
    text = " ".join(result.out.split())
    assert f"--precision_mode=force_fp16 --keep_dtype={keep}" in text
    assert "3 node(s) kept in fp32" in text
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "square, mean_square, rms" in page
