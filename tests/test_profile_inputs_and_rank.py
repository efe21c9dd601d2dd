"""Probe-derived limits: optional inputs no passing case gave (``absent_inputs``, rule
input-unsupported) and ranks the converter refused above every passing one (``max_rank``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx.parser
import onnx_ir as ir
import pytest

from nnport.check import check
from nnport.probe.derive import derive_rules
from nnport.probe.engine import CaseOutcome
from nnport.probe.nodes import NodeUse, node_uses
from nnport.targets import dump_profile, load_target, read_profile


def _outcome(status: str, use: NodeUse, stage: str = "") -> CaseOutcome:
    return CaseOutcome("case", use.op, "", 22, 22, status, stage, nodes=(use,),  # type: ignore[arg-type]
                       graph_inputs=("float32",), graph_outputs=("float32",))  # fmt: skip


def _dropout(*inputs: str) -> NodeUse:
    return NodeUse("Dropout", "", 22, inputs, ("float32",), (), (), (("seed", "0"),), 2)


def _grid(rank: int) -> NodeUse:
    modes = (("mode", "linear"), ("padding_mode", "zeros"))
    return NodeUse("GridSample", "", 22, ("float32", "float32"), ("float32",), modes, (),
                   (("align_corners", "0"),), rank)  # fmt: skip


def test_an_optional_input_no_pass_gave_is_refused_when_given(tmp_path: Path) -> None:
    outcomes = [
        _outcome("pass", _dropout("float32")),
        _outcome("pass", _dropout("float32", "float32")),  # ratio given: fine
        _outcome("fail", _dropout("float32", "float32", "bool"), "convert"),  # training_mode
    ]
    (rule,) = [r for r in derive_rules(outcomes) if r.versions_text() == "22+"]
    assert rule.absent_inputs == (2,) and rule.input_dtypes == {}  # not a dtype limit
    profile = load_target("onnxruntime")
    import dataclasses

    path = dump_profile(dataclasses.replace(profile, ops=(rule,)), tmp_path / "p.toml")
    assert read_profile(path).ops[0].absent_inputs == (2,)  # round trip
    graph = """
        <ir_version: 8, opset_import: ["" : 22]>
        g (float[2, 3] x, float r, bool t) => (float[2, 3] y) {{ y = Dropout({args}) }}
    """
    (v,) = check(_model(graph.format(args="x, r, t")), str(path)).violations
    assert v.rule == "input-unsupported" and "optional input 2 ('t')" in v.message
    assert check(_model(graph.format(args="x, r")), str(path)).deployable


def test_a_rank_the_converter_refused_above_every_pass_sets_max_rank() -> None:
    refused = derive_rules([_outcome("pass", _grid(4)), _outcome("fail", _grid(5), "convert")])
    assert {r.max_rank for r in refused} == {4}
    # a wrong result is not blamed on the rank (OpenVINO's Tile: repeats fed at run time)
    wrong = derive_rules([_outcome("pass", _grid(4)), _outcome("fail", _grid(5), "compare")])
    assert {r.max_rank for r in wrong} == {None}


def test_node_uses_record_the_highest_rank() -> None:
    model = onnx.parser.parse_model("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (float[1, 2, 3, 4, 5] x) => (float[1, 2, 60] y) {
            s = Constant<value = int64[3] {1, 2, 60}>()
            y = Reshape(x, s)
        }
    """)
    assert [u.rank for u in node_uses(model)] == [1, 5]


def _model(text: str) -> ir.Model:
    return ir.serde.deserialize_model(onnx.parser.parse_model(text))


def _save(text: str, path: Path) -> Path:
    onnx.save(onnx.parser.parse_model(text), path)
    return path


def test_openvino_really_refuses_what_its_profile_now_refuses(tmp_path: Path) -> None:
    """The measurements behind the shipped openvino.toml entries, rerun on OpenVINO."""
    pytest.importorskip("openvino")
    from nnport.backends import make_runner
    from nnport.errors import BackendError
    from nnport.model.io import load

    dropout = """
        <ir_version: 8, opset_import: ["" : 22]>
        g (float[2, 3] x{inputs}) => (float[2, 3] y) {{
            r = Constant<value = float {{0.5}}>()
            y = Dropout({args})
        }}
    """
    grid = """
        <ir_version: 8, opset_import: ["" : 22]>
        g (float[1, 1, {dims}] x, float[1, {out}, {n}] g) => (float[1, 1, {out}] y) {{
            y = GridSample<mode = "linear">(x, g)
        }}
    """
    mod = """
        <ir_version: 8, opset_import: ["" : 28]>
        g ({t}[4] a, {t}[4] b) => ({t}[4] y) {{ y = Mod<fmod = {f}>(a, b) }}
    """
    models = {
        "mod_int_fmod0": (mod.format(t="int32", f=0), True),
        "mod_float_fmod1": (mod.format(t="float", f=1), True),
        "mod_float_fmod0": (mod.format(t="float", f=0), False),
        "eval": (dropout.format(inputs="", args="x, r"), True),
        "training": (dropout.format(inputs=", bool t", args="x, r, t"), False),
        "grid4": (grid.format(dims="3, 3", out="2, 2", n=2), True),
        "grid5": (grid.format(dims="3, 3, 3", out="2, 2, 2", n=3), False),
    }
    rng = np.random.default_rng(0)
    for name, (text, runs) in models.items():
        path = _save(text, tmp_path / f"{name}.onnx")
        assert check(load(path), "openvino").deployable == runs, name
        model = load(path)
        feeds = {}
        for value in model.graph.inputs:
            shape = tuple(int(d) for d in value.shape)
            dtype = value.dtype.numpy()
            feeds[value.name] = (1 + 5 * rng.random(shape)).astype(dtype)  # Mod: no zeros
        if runs:
            with make_runner("openvino", model) as runner:
                runner.infer(feeds)
        else:
            with pytest.raises(BackendError), make_runner("openvino", model) as runner:
                runner.infer(feeds)


def test_sequence_and_optional_graph_io_that_never_passed_are_refused(tmp_path: Path) -> None:
    from nnport.probe.graph import graph_rules

    def case(status: str, ins: tuple[str, ...], outs: tuple[str, ...]) -> CaseOutcome:
        return CaseOutcome("c", "Identity", "", 13, 13, status,  # type: ignore[arg-type]
                           graph_inputs=ins, graph_outputs=outs)  # fmt: skip

    rules = graph_rules(
        [case("pass", ("float32",), ("float32",)), case("fail", ("sequence",), ("sequence",)),
         case("fail", ("optional",), ("bool",))], static_shapes=False,
    )  # fmt: skip
    assert rules.refused_io_kinds == ("sequence", "optional") and rules.input_dtypes == ()
    import dataclasses

    profile = dataclasses.replace(load_target("onnxruntime"), graph=rules)
    path = dump_profile(profile, tmp_path / "p.toml")
    assert read_profile(path).graph.refused_io_kinds == ("sequence", "optional")
    model = _model("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (seq(float[2]) s) => (seq(float[2]) t) { t = Identity(s) }
    """)
    found = [v for v in check(model, str(path)).violations if v.rule == "io-dtype"]
    assert [v.tensor for v in found] == ["s", "t"] and "is a sequence" in found[0].message
    assert check(model, "onnxruntime").deployable  # ONNX Runtime takes sequences


def test_openvino_really_refuses_a_sequence_graph_input(tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    from nnport.backends import make_runner
    from nnport.errors import BackendError
    from nnport.model.io import load

    path = _save("""
        <ir_version: 8, opset_import: ["" : 13]>
        g (seq(float[2]) s) => (seq(float[2]) t) { t = Identity(s) }
    """, tmp_path / "seq.onnx")  # fmt: skip
    assert not check(load(path), "openvino").deployable
    with pytest.raises(BackendError), make_runner("openvino", load(path)) as runner:
        runner.infer({"s": [np.ones(2, np.float32)]})


@pytest.mark.parametrize("layout", [0, 1])
def test_onnxruntime_profile_carries_the_probed_load_failures(tmp_path: Path, layout: int) -> None:
    """ORT registers an LSTM kernel but refuses layout = 1 when the session loads; the shipped
    profile (registry plus the probe's load failures) says so, and ORT agrees."""
    import onnxruntime as ort

    text = f"""
        <ir_version: 8, opset_import: ["" : 14]>
        g (float[2, 3, 4] x, float[1, 20, 4] w, float[1, 20, 5] r) => (float[2, 3, 1, 5] y) {{
            y = LSTM<hidden_size = 5, layout = {layout}>(x, w, r)
        }}
    """
    path = _save(text, tmp_path / "lstm.onnx")
    from nnport.model.io import load

    report = check(load(path), "onnxruntime")
    try:
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        loads = True
    except Exception:
        loads = False
    assert report.deployable == loads == (layout == 0), report.violations


def _mod(dtype: str, fmod: str) -> NodeUse:
    return NodeUse("Mod", "", 13, (dtype, dtype), (dtype,), (), (), (("fmod", fmod),))


def test_a_switch_refused_with_one_input_dtype_only_splits_the_entry(tmp_path: Path) -> None:
    """OpenVINO's Mod-28 converts integers with fmod=0 and floats with fmod=1, but not floats
    with fmod=0: two entries, so a node is refused only for that combination."""
    outcomes = [
        _outcome("pass", _mod("int32", "0")),
        _outcome("pass", _mod("float32", "1")),
        _outcome("fail", _mod("float32", "0"), "convert"),
    ]
    entries = [r for r in derive_rules(outcomes) if r.versions_text() == "13-27"]
    assert len(entries) == 2
    ints, floats = entries
    assert "int32" in ints.input_dtypes["0"] and "float32" not in ints.input_dtypes["0"]
    assert floats.input_dtypes["0"] == ("float32",)
    assert floats.forbidden_attributes == {"fmod": (0,)}
    import dataclasses

    profile = dataclasses.replace(load_target("onnxruntime"), ops=tuple(entries))
    path = dump_profile(profile, tmp_path / "p.toml")
    graph = """
        <ir_version: 8, opset_import: ["" : 13]>
        g ({t}[4] a, {t}[4] b) => ({t}[4] y) {{ y = Mod<fmod = {f}>(a, b) }}
    """
    verdicts = {(t, f): check(_model(graph.format(t=t, f=f)), str(path)).deployable
                for t in ("int32", "float") for f in (0, 1)}  # fmt: skip
    assert verdicts == {("int32", 0): True, ("int32", 1): True, ("float", 0): False,
                        ("float", 1): True}  # fmt: skip
    (v,) = check(_model(graph.format(t="float", f=0)), str(path)).violations
    assert v.rule == "attribute-unsupported" and "fmod=0" in v.message, v.message


@pytest.mark.parametrize("opset", [24, 25, 28])
def test_a_function_op_expanded_only_at_some_opsets(tmp_path: Path, opset: int) -> None:
    """ONNX Runtime expands Swish-24 in an opset-24 model and refuses it in later ones: the
    profile says "Swish:25+" in unexpanded_functions, and check agrees with ORT."""
    import onnxruntime as ort

    from nnport.model.io import load

    profile = load_target("onnxruntime")
    assert "Swish:25+" in profile.unexpanded_functions
    assert profile.expands("Swish", 24) and not profile.expands("Swish", 25)
    path = _save(f"""
        <ir_version: 11, opset_import: ["" : {opset}]>
        g (float[3] x) => (float[3] y) {{ y = Swish(x) }}
    """, tmp_path / "swish.onnx")  # fmt: skip
    try:
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        loads = True
    except Exception:
        loads = False
    assert check(load(path), "onnxruntime").deployable == loads == (opset == 24)


def test_unexpanded_function_versions_are_validated(tmp_path: Path) -> None:
    from nnport.errors import UnsupportedTargetError

    path = dump_profile(load_target("onnxruntime"), tmp_path / "p.toml")
    path.write_text(path.read_text().replace('"Swish:25+"', '"Swish:x+"'))
    with pytest.raises(UnsupportedTargetError, match="unexpanded_functions"):
        read_profile(path)
