"""The ncnn limits the all-cases probe added, each rerun on real ncnn against ONNX Runtime: what
check refuses goes wrong on ncnn, and the nearest model check accepts converts and matches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from nnport.check import check
from nnport.model.io import load
from nnport.probe.reproduce import reproduces
from nnport.targets import load_target
from runtimes import matches_onnxruntime

# Sweeps keep a representative case or two (one that runs, one refused) in the default suite;
# the other cases, each a pnnx conversion and an ncnn run, are `slow` (pytest -m slow).
SLOW = pytest.mark.slow


def _sweep(values: list[object], keep: tuple[object, ...]) -> list[object]:
    """``values`` with every one not in ``keep`` marked slow."""
    return [v if v in keep else pytest.param(v, marks=SLOW) for v in values]


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _model(
    tmp_path: Path,
    name: str,
    nodes: list[onnx.NodeProto],
    inputs: dict[str, list[int]],
    outputs: dict[str, list[int]],
    inits: dict[str, np.ndarray] | None = None,
    opset: int = 13,
) -> Path:
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs.items()],
        [numpy_helper.from_array(v, k) for k, v in (inits or {}).items()],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    return path


def _ncnn_matches(path: Path) -> bool:
    """True when ncnn converts and runs the model and matches ONNX Runtime."""
    return matches_onnxruntime("ncnn", path)


def _rules(path: Path) -> set[str]:
    return {v.rule for v in check(load(path), "ncnn").violations}


def _fixed_runs_on_ncnn(
    tmp_path: Path, path: Path, fix_id: str, rule: str | None = None, exact: bool = False
) -> None:
    """The model's one violation (of ``rule``, when given) names ``fix_id``; nnport fix for
    ncnn applies and verifies it (with no error at all when ``exact``), and ncnn runs the
    fixed model and matches ONNX Runtime."""
    from nnport.model.io import save
    from nnport.passes import FixOptions, fix

    (violation,) = check(load(path), "ncnn").violations
    assert violation.fix == fix_id and rule in (None, violation.rule)
    result = fix(load(path), "ncnn", options=FixOptions(seed=0))
    assert result.deployable and result.verified, (result.passes, result.remaining)
    assert not exact or result.max_error == 0.0
    assert _ncnn_matches(save(result.model, tmp_path / "fixed.onnx"))


@pytest.fixture(autouse=True)
def _needs_ncnn() -> None:
    pytest.importorskip("ncnn")


def test_three_input_max_is_refused_and_two_inputs_run(tmp_path: Path) -> None:
    """max_inputs: ncnn's Max and Min with three inputs return wrong values (no error)."""
    shape = {n: [1, 3, 4, 4] for n in "abc"}
    conv = helper.make_node("Conv", ["a", "w"], ["ca"])
    w = {"w": np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1)}
    three = _model(tmp_path, "max3", [conv, helper.make_node("Max", ["ca", "b", "c"], ["y"])],
                   shape, {"y": [1, 3, 4, 4]}, w)  # fmt: skip
    two = _model(tmp_path, "max2", [conv, helper.make_node("Max", ["ca", "b"], ["y"])],
                 {"a": shape["a"], "b": shape["b"]}, {"y": [1, 3, 4, 4]}, w)  # fmt: skip
    assert not _ncnn_matches(three)
    assert "input-unsupported" in _rules(three)
    assert _ncnn_matches(two)
    assert check(load(two), "ncnn").deployable


def test_unsqueeze_with_two_axes_runs_in_a_graph_with_an_anchor(tmp_path: Path) -> None:
    """The node suite's two- and three-axis Unsqueeze cases fail to load on ncnn, but only
    without an op telling pnnx the batch axis: after a Conv, two axes load and match, so the
    profile sets no limit on the axes (measured; the cases are batch-axis artifacts)."""
    inits = {"w": np.eye(4, dtype=np.float32).reshape(4, 4, 1), "axes": np.array([1, 4])}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]),
             helper.make_node("Unsqueeze", ["c", "axes"], ["y"])]  # fmt: skip
    path = _model(tmp_path, "unsqueeze2", nodes, {"x": [1, 4, 5]}, {"y": [1, 1, 4, 5, 1]}, inits)
    assert _ncnn_matches(path)
    assert check(load(path), "ncnn").deployable


def test_flatten_of_the_batch_axis_without_an_anchor_is_refused(tmp_path: Path) -> None:
    """batch-axis-unknown: Flatten with axis 2 turns [1, 3, 4, 5] into [3, 20]; pnnx keeps the
    first axis as a batch of 1; with axis 1 the first axis stays 1 and it is right."""
    two = _model(tmp_path, "flatten2", [helper.make_node("Flatten", ["x"], ["y"], axis=2)],
                 {"x": [1, 3, 4, 5]}, {"y": [3, 20]})  # fmt: skip
    one = _model(tmp_path, "flatten1", [helper.make_node("Flatten", ["x"], ["y"], axis=1)],
                 {"x": [1, 3, 4, 5]}, {"y": [1, 60]})  # fmt: skip
    assert not _ncnn_matches(two)
    assert "batch-axis-unknown" in _rules(two)
    assert _ncnn_matches(one)
    assert check(load(one), "ncnn").deployable


def test_reduction_on_a_fixed_first_axis_of_3_is_refused(tmp_path: Path) -> None:
    """A reduction over some axes of a [3, 2, 2] input is not batch-free on ncnn (its only such
    passes reduced every axis or none); a reduction over every axis is right."""
    axes = {"axes": np.array([1], dtype=np.int64)}
    some = _model(tmp_path, "sum1", [helper.make_node("ReduceSum", ["x", "axes"], ["y"])],
                  {"x": [3, 2, 2]}, {"y": [3, 1, 2]}, axes)  # type: ignore[arg-type]  # fmt: skip
    every = _model(tmp_path, "max_all", [helper.make_node("ReduceMax", ["x"], ["y"])],
                   {"x": [3, 2, 2]}, {"y": [1, 1, 1]})  # fmt: skip
    assert not _ncnn_matches(some)
    assert "batch-not-one" in _rules(some)
    assert _ncnn_matches(every)
    assert check(load(every), "ncnn").deployable


def test_selu_runs_with_its_default_constants(tmp_path: Path) -> None:
    """Selu's attribute limit keeps the defaults open: they convert and match."""
    path = _model(tmp_path, "selu", [helper.make_node("Selu", ["x"], ["y"])], {"x": [1, 3, 4, 5]},
                  {"y": [1, 3, 4, 5]})  # fmt: skip
    assert _ncnn_matches(path)
    assert check(load(path), "ncnn").deployable


def test_layer_normalization_mean_output_is_refused(tmp_path: Path) -> None:
    """absent_outputs: pnnx's layer_norm makes Y only; asking for Mean is refused."""
    scale = {"s": np.ones(5, dtype=np.float32), "b": np.zeros(5, dtype=np.float32)}
    node = helper.make_node("LayerNormalization", ["x", "s", "b"], ["y", "mean"], axis=-1)
    path = _model(
        tmp_path,
        "ln",
        [node],
        {"x": [1, 3, 5]},
        {"y": [1, 3, 5], "mean": [1, 3, 1]},
        scale,
        opset=17,
    )
    assert "output-unsupported" in _rules(path)


def _transpose(tmp_path: Path, name: str, perm: list[int] | None = None) -> Path:
    """A Transpose of a [2, 3, 4] tensor (pnnx keeps a first axis of 2 as a plain axis)."""
    node = helper.make_node("Transpose", ["x"], ["y"])
    if perm is not None:
        node.attribute.append(helper.make_attribute("perm", perm))
    return _model(tmp_path, name, [node], {"x": [2, 3, 4]}, {"y": [4, 3, 2]})


def test_transpose_without_perm_is_refused_and_a_written_perm_runs(tmp_path: Path) -> None:
    """required_attributes: pnnx cannot take Transpose's default permutation; the same
    permutation written out converts and matches. (After a Conv, a Transpose that leaves the
    batch axis elsewhere in a graph output fails either way.)"""
    default, explicit = _transpose(tmp_path, "default"), _transpose(tmp_path, "p", perm=[2, 1, 0])
    assert not _ncnn_matches(default)
    assert "attribute-unsupported" in _rules(default)
    assert _ncnn_matches(explicit)
    assert check(load(explicit), "ncnn").deployable


def test_fix_writes_the_default_perm_out_and_ncnn_runs_it(tmp_path: Path) -> None:
    """The required perm has a fix: write-defaults writes the reversed axes out; the
    fixed model passes check, converts and matches ONNX Runtime on ncnn."""
    _fixed_runs_on_ncnn(tmp_path, _transpose(tmp_path, "default"), "write-defaults")


def test_a_graph_input_passed_straight_to_an_output_is_refused(tmp_path: Path) -> None:
    """passthrough-graph: pnnx removes a lone Identity and the model loses its input; after a
    Conv the Identity is harmless."""
    w = {"w": np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1)}
    alone = _model(tmp_path, "alone", [helper.make_node("Identity", ["x"], ["y"])],
                   {"x": [1, 3, 4, 5]}, {"y": [1, 3, 4, 5]})  # fmt: skip
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"]),
        helper.make_node("Identity", ["c"], ["y"]),
    ]
    after = _model(tmp_path, "after", nodes, {"x": [1, 3, 4, 5]}, {"y": [1, 3, 4, 5]}, w)
    assert not _ncnn_matches(alone)
    assert "graph-unsupported" in _rules(alone)
    assert _ncnn_matches(after)
    assert check(load(after), "ncnn").deployable


@pytest.mark.parametrize(
    "name",
    ["linear-bias", "split-uneven-parts",
     *(pytest.param(n, marks=SLOW) for n in (
         "empty-tensor", "avgpool-ceil-extra-window", "passthrough-graph", "gather-index-list",
         "deconv-runtime-weight", "resize-nearest-mode", "resize-nearest-index",
         "reduce-axes-input"))],
)  # fmt: skip
def test_the_new_ncnn_defects_reproduce_on_ncnn_only(name: str) -> None:
    pytest.importorskip("openvino")
    assert reproduces(name, "ncnn")
    assert name in load_target("ncnn").graph.defects
    assert not reproduces(name, "onnxruntime")
    assert not reproduces(name, "openvino")


def test_empty_tensor_is_flagged_but_an_empty_constant_is_not(tmp_path: Path) -> None:
    """A zero-size run-time tensor is refused; an empty constant axes input (a reduction with
    noop_with_empty_axes) is no tensor to ncnn and passes."""
    split = helper.make_node("Split", ["x", "parts"], ["a", "b"], axis=1)
    empty = _model(tmp_path, "split0", [split], {"x": [1, 4, 2]}, {"a": [1, 4, 2], "b": [1, 0, 2]},
                   {"parts": np.array([4, 0], dtype=np.int64)})  # type: ignore[arg-type]  # fmt: skip
    assert "shape-unsupported" in _rules(empty)
    noop = helper.make_node("ReduceSum", ["x", "axes"], ["y"], noop_with_empty_axes=1)
    path = _model(tmp_path, "noop", [noop], {"x": [1, 3, 4, 4]}, {"y": [1, 3, 4, 4]},
                  {"axes": np.array([], dtype=np.int64)})  # type: ignore[arg-type]  # fmt: skip
    assert "shape-unsupported" not in _rules(path)


def test_batch_not_one_skips_shape_arithmetic_the_converter_folds() -> None:
    """pnnx computes Shape -> Gather chains on static inputs itself: a fixed first axis of 2
    reaching them is no batch-not-one violation (the node suite's expanded FlexAttention)."""
    import onnx_ir as ir

    from nnport.probe.engine import case_inputs, load_cases

    (case,) = load_cases(names=["test_flexattention_expanded_ver26"])
    model, _ = case_inputs(case, freeze=True)
    report = check(ir.serde.deserialize_model(model), "ncnn")
    flagged = {v.op for v in report.violations if v.rule == "batch-not-one"}
    assert flagged and not flagged & {"Shape", "Gather"}


_B = np.linspace(-1, 1, 24, dtype=np.float32).reshape(4, 6)
# (name, run-time inputs besides a, constants, transB, transA) -> ncnn runs it (measured)
Gemm = tuple[dict[str, list[int]], dict[str, np.ndarray], int, int, bool]
GEMMS: dict[str, Gemm] = {
    "layer": ({}, {"b": _B, "c": np.ones(4, np.float32)}, 1, 0, True),
    "no_bias_fed_b": ({"b": [4, 6]}, {}, 1, 0, True),
    "fed_b_fed_c": ({"b": [4, 6], "c": [4]}, {}, 1, 0, False),
    "const_b_fed_c": ({"c": [4]}, {"b": _B}, 1, 0, False),
    "fed_b_const_c": ({"b": [4, 6]}, {"c": np.ones(4, np.float32)}, 1, 0, False),
    "matrix_bias": ({}, {"b": _B, "c": np.ones((3, 4), np.float32)}, 1, 0, False),
    "matmul_add": ({"b": [6, 4], "c": [3, 4]}, {}, 0, 0, True),
}


@pytest.mark.parametrize("name", _sweep(list(GEMMS), keep=("layer", "fed_b_fed_c")))
def test_check_agrees_with_ncnn_on_linear_layer_biases(tmp_path: Path, name: str) -> None:
    """linear-bias: pnnx makes a Gemm with transB (or a constant B) a linear layer, which ncnn
    runs with a bias only when B and the bias are constants and the bias is a vector."""
    fed, constants, trans_b, trans_a, runs = GEMMS[name]
    node = helper.make_node("Gemm", ["a", "b", "c"][: 2 + ("c" in fed or "c" in constants)],
                            ["y"], transB=trans_b, transA=trans_a)  # fmt: skip
    path = _model(tmp_path, name, [node], {"a": [3, 6], **fed}, {"y": [3, 4]}, constants)
    assert _ncnn_matches(path) == runs  # the measurement, rerun
    assert check(load(path), "ncnn").deployable == runs


def test_split_without_axis_is_refused_and_fixed(tmp_path: Path) -> None:
    """required_attributes (recorded by hand): pnnx can write a garbage axis for a Split given
    `split` and no `axis`; check asks for the axis, and write-defaults writes it out."""
    node = helper.make_node("Split", ["x", "split"], ["a", "b"])
    path = _model(tmp_path, "split", [node], {"x": [6]}, {"a": [2], "b": [4]},
                  {"split": np.array([2, 4], dtype=np.int64)})  # type: ignore[arg-type]  # fmt: skip
    _fixed_runs_on_ncnn(tmp_path, path, "write-defaults", "attribute-unsupported")


_CONV = {"w": np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1)}


def _gather(tmp_path: Path, name: str, indices: np.ndarray, axis: int = 1) -> Path:
    """A 1x1 Conv on [1, 3, 4, 5] (it tells pnnx the batch axis), then Gather(indices)."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]),
             helper.make_node("Gather", ["c", "i"], ["y"], axis=axis)]  # fmt: skip
    out = [1, 3, 4, 5][:axis] + list(indices.shape) + [1, 3, 4, 5][axis + 1 :]
    return _model(tmp_path, name, nodes, {"x": [1, 3, 4, 5]}, {"y": out},
                  {**_CONV, "i": indices.astype(np.int64)})  # fmt: skip


@pytest.mark.parametrize(
    "indices",
    [np.array([0, 2]), pytest.param(np.array([2, 0, 1]), marks=SLOW),
     pytest.param(np.array([[0, 2]]), marks=SLOW), np.array([[0, 2], [1, 1]])],
)  # fmt: skip
def test_gather_of_several_indices_is_refused_and_rewritten(
    tmp_path: Path, indices: np.ndarray
) -> None:
    """gather-index-list: pnnx makes a Gather of a run-time tensor a select of one index; a
    vector of indices comes back as one slice, a matrix fails to convert. rewrite-gather turns
    it into Slices and a Concat, which ncnn runs."""
    path = _gather(tmp_path, "gather", indices)
    assert not _ncnn_matches(path)
    _fixed_runs_on_ncnn(tmp_path, path, "rewrite-gather", "input-not-scalar", exact=True)


@pytest.mark.parametrize(
    ("indices", "axis"),
    [(np.array(1), 1), pytest.param(np.array([2]), 1, marks=SLOW),
     pytest.param(np.array([3]), 3, marks=SLOW)],
)  # fmt: skip
def test_gather_of_one_index_runs(tmp_path: Path, indices: np.ndarray, axis: int) -> None:
    """A scalar index or a vector of one is the select pnnx makes: it converts and matches."""
    path = _gather(tmp_path, "gather1", indices, axis)
    assert _ncnn_matches(path)
    assert check(load(path), "ncnn").deployable


def test_unsqueeze_past_axis_3_without_an_anchor_is_refused(tmp_path: Path) -> None:
    """Without an anchor pnnx hands ncnn's ExpandDims the ONNX axes unshifted, and it does not
    load an axis above 3 (the node suite's test_unsqueeze_two_axes); axes up to 3 run."""

    def unsqueeze(name: str, axes: list[int], out: list[int]) -> Path:
        return _model(tmp_path, name, [helper.make_node("Unsqueeze", ["x", "axes"], ["y"])],
                      {"x": [1, 4, 5]}, {"y": out}, {"axes": np.array(axes)})  # fmt: skip

    past = unsqueeze("past", [1, 4], [1, 1, 4, 5, 1])
    within = unsqueeze("within", [1, 3], [1, 1, 4, 1, 5])
    assert not _ncnn_matches(past)
    assert "batch-axis-unknown" in _rules(past)
    assert _ncnn_matches(within)
    assert check(load(within), "ncnn").deployable


@pytest.mark.parametrize(("c_in", "c_out"), [pytest.param(1, 2, marks=SLOW), (2, 2), (1, 1)])
def test_convtranspose_with_a_run_time_weight_is_refused_unless_one_channel(
    tmp_path: Path, c_in: int, c_out: int
) -> None:
    """deconv-runtime-weight: ncnn runs a ConvTranspose right with a constant weight; with the
    weight fed at run time only a single channel pair matches."""
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"])
    shapes = {"x": [1, c_in, 3, 3], "w": [c_in, c_out, 3, 3]}
    fed = _model(tmp_path, "fed", [node], shapes, {"y": [1, c_out, 5, 5]})
    weight = np.random.default_rng(0).standard_normal(shapes["w"]).astype(np.float32)
    const = _model(tmp_path, "const", [node], {"x": shapes["x"]}, {"y": [1, c_out, 5, 5]},
                   {"w": weight})  # fmt: skip
    runs = (c_in, c_out) == (1, 1)
    assert _ncnn_matches(fed) == runs
    assert check(load(fed), "ncnn").deployable == runs
    assert runs or "input-not-constant" in _rules(fed)
    assert _ncnn_matches(const)
    assert check(load(const), "ncnn").deployable


def test_lrn_on_a_first_axis_of_5_is_refused_and_runs_cut_to_one(tmp_path: Path) -> None:
    """LRN is not batch-free on ncnn (the node suite's test_lrn: bias 2 on [5, 5, 5, 5] is
    wrong, and right cut to one sample)."""
    node = helper.make_node("LRN", ["x"], ["y"], size=3, alpha=0.0002, beta=0.5, bias=2.0)
    five = _model(tmp_path, "lrn5", [node], {"x": [5, 5, 5, 5]}, {"y": [5, 5, 5, 5]})
    one = _model(tmp_path, "lrn1", [node], {"x": [1, 5, 5, 5]}, {"y": [1, 5, 5, 5]})
    assert not _ncnn_matches(five)
    assert "batch-not-one" in _rules(five)
    assert _ncnn_matches(one)
    assert check(load(one), "ncnn").deployable


@pytest.mark.parametrize("opset", _sweep([11, 13, 17, 20], keep=(17,)))
def test_torch_nearest_upsampling_is_deployable_and_runs(tmp_path: Path, opset: int) -> None:
    """nn.Upsample(mode="nearest") as torch exports it (Resize with asymmetric coordinates and
    floor rounding; dynamo at opset 20): the node suite has no such case, nnport's exporter
    cases do, and ncnn converts and matches it after a Conv, as in a detector's neck."""
    torch = pytest.importorskip("torch")

    class Neck(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.up = torch.nn.Upsample(scale_factor=2, mode="nearest")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.up(self.conv(x))

    torch.manual_seed(0)
    path = tmp_path / "neck.onnx"
    options = {"dynamo": True} if opset == 20 else {"opset_version": opset, "dynamo": False}
    torch.onnx.export(Neck().eval(), (torch.randn(1, 3, 8, 8),), str(path), **options)
    assert onnx.load(path).opset_import[0].version == opset
    assert check(load(path), "ncnn").deployable
    assert _ncnn_matches(path)


def test_nearest_mode_written_out_is_refused_and_left_out(tmp_path: Path) -> None:
    """resize-nearest-mode: pnnx gives up on a nearest Resize with nearest_mode written out,
    even at its default; left out (drop-defaults), the same Resize converts and matches."""
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest",
                            coordinate_transformation_mode="half_pixel",
                            nearest_mode="round_prefer_floor")  # fmt: skip
    path = _model(tmp_path, "resize", [node], {"x": [1, 3, 4, 4]}, {"y": [1, 3, 8, 8]},
                  {"scales": np.array([1, 1, 2, 2], np.float32)})  # fmt: skip
    assert not _ncnn_matches(path)
    _fixed_runs_on_ncnn(tmp_path, path, "drop-defaults", "attribute-unsupported", exact=True)


@pytest.mark.parametrize(
    ("mode", "ctm", "nearest_mode", "runs"),
    [
        ("cubic", "asymmetric", None, False),
        pytest.param("cubic", "half_pixel", None, True, marks=SLOW),
        pytest.param("nearest", "align_corners", "floor", False, marks=SLOW),
        ("nearest", "asymmetric", "floor", True),
    ],
)
def test_resize_values_refused_together_and_allowed_apart(
    tmp_path: Path, mode: str, ctm: str, nearest_mode: str | None, runs: bool
) -> None:
    """forbidden_combinations: cubic and asymmetric each convert on ncnn, cubic with asymmetric
    gives wrong values; so does nearest with align_corners (the suite's
    test_resize_upsample_scales_cubic_asymmetric and ..._nearest_floor_align_corners)."""
    extra = {"nearest_mode": nearest_mode} if nearest_mode else {}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]),
             helper.make_node("Resize", ["c", "", "scales"], ["y"], mode=mode,
                              coordinate_transformation_mode=ctm, **extra)]  # fmt: skip
    path = _model(tmp_path, "resize", nodes, {"x": [1, 3, 4, 4]}, {"y": [1, 3, 8, 8]},
                  {**_CONV, "scales": np.array([1, 1, 2, 2], np.float32)})  # fmt: skip
    assert _ncnn_matches(path) == runs
    assert check(load(path), "ncnn").deployable == runs


@pytest.mark.parametrize(("length", "runs"), [(8, False), (9, True)])
def test_split_by_num_outputs_with_uneven_parts_is_refused_and_written_out(
    tmp_path: Path, length: int, runs: bool
) -> None:
    """split-uneven-parts: ncnn cuts 8 into parts 2, 3 and 3 where ONNX-18 makes them 3, 3
    and 2; write-split-sizes gives the sizes as the split input, which ncnn takes. 9 in 3 is
    even."""
    parts = [3, 3, length - 6]
    node = helper.make_node("Split", ["c"], ["a", "b", "d"], axis=2, num_outputs=3)
    path = _model(tmp_path, "split", [helper.make_node("Conv", ["x", "w"], ["c"]), node],
                  {"x": [1, 3, length, 4]},
                  {n: [1, 3, p, 4] for n, p in zip("abd", parts, strict=True)}, _CONV,
                  opset=18)  # fmt: skip
    assert _ncnn_matches(path) == runs
    assert check(load(path), "ncnn").deployable == runs
    if not runs:
        _fixed_runs_on_ncnn(tmp_path, path, "write-split-sizes", "shape-unsupported", exact=True)


@pytest.mark.parametrize("what", _sweep(["argmax", "topk", "cumsum"], keep=("argmax",)))
def test_table_ops_every_case_failed_to_convert_are_refused(tmp_path: Path, what: str) -> None:
    """pnnx's table names ArgMax, TopK and CumSum, but every node-suite case of them failed to
    convert, where check objected only to their int64 outputs: the ops are refuted, and a torch
    export of each after a Conv fails on ncnn as check says."""
    torch = pytest.importorskip("torch")
    step = {
        "argmax": lambda x: x.argmax(1).float(),
        "topk": lambda x: x.flatten(1).topk(5)[0],
        "cumsum": lambda x: x.cumsum(1),
    }[what]

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, 1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return step(self.conv(x))

    path = tmp_path / f"{what}.onnx"
    torch.onnx.export(Net().eval(), (torch.randn(1, 3, 8, 8),), str(path), opset_version=13,
                      dynamo=False)  # fmt: skip
    assert not _ncnn_matches(path)
    assert not check(load(path), "ncnn").deployable


@pytest.mark.parametrize(
    ("op", "opset", "axes", "runs"),
    [("ReduceSum", 13, [1], False), pytest.param("ReduceMean", 18, [-1], False, marks=SLOW),
     pytest.param("ReduceL2", 18, [1], False, marks=SLOW), ("ReduceMean", 18, [2, 3], True),
     pytest.param("ReduceSum", 13, [1, 2, 3], True, marks=SLOW),
     pytest.param("ReduceProd", 18, [1], True, marks=SLOW)],
)  # fmt: skip
def test_reductions_given_axes_as_an_input(
    tmp_path: Path, op: str, opset: int, axes: list[int], runs: bool
) -> None:
    """reduce-axes-input: pnnx drops a reduction's axes input (what dynamo's opset-18 exports
    and every ReduceSum-13 give) and returns the tensor unreduced, except over H and W or every
    axis but the batch; ReduceProd reads it right."""
    reduced = [1 if i in {a % 4 for a in axes} else d for i, d in enumerate([1, 3, 4, 5])]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]),
             helper.make_node(op, ["c", "axes"], ["y"], keepdims=1)]  # fmt: skip
    path = _model(tmp_path, "reduce", nodes, {"x": [1, 3, 4, 5]}, {"y": reduced},
                  {**_CONV, "axes": np.array(axes, np.int64)}, opset=opset)  # fmt: skip
    assert _ncnn_matches(path) == runs
    assert check(load(path), "ncnn").deployable == runs


@pytest.mark.parametrize(
    ("slope", "fed", "runs"),
    [([3, 1, 1], False, True), pytest.param([1, 1, 1], False, True, marks=SLOW),
     ([5], False, False), pytest.param([3, 1, 1], True, False, marks=SLOW)],
)  # fmt: skip
def test_prelu_runs_with_a_constant_per_channel_slope(
    tmp_path: Path, slope: list[int], fed: bool, runs: bool
) -> None:
    """pnnx makes PRelu a per-channel PReLU layer whose slope is its weights: a constant slope
    of [C, 1, 1] or [1, 1, 1] (nn.PReLU) is right, with no anchor needed; one along the last
    axis (the node suite's test_prelu_broadcast) or fed at run time (test_prelu_example) is
    not."""
    node = helper.make_node("PRelu", ["x", "slope"], ["y"])
    values = np.random.default_rng(1).uniform(0.1, 0.3, slope).astype(np.float32)
    inputs = {"x": [1, 3, 4, 5], **({"slope": slope} if fed else {})}
    path = _model(tmp_path, "prelu", [node], inputs, {"y": [1, 3, 4, 5]},
                  {} if fed else {"slope": values})  # fmt: skip
    assert _ncnn_matches(path) == runs
    assert check(load(path), "ncnn").deployable == runs


def test_l2_normalize_at_opset_18_is_fused_and_runs(tmp_path: Path) -> None:
    """F.normalize exports ReduceL2 with its axes as an input, then Clip, Expand and Div: pnnx
    fuses the pattern, axes and all, so reduce-axes-input leaves it alone."""
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"]),
        helper.make_node("ReduceL2", ["c", "axes"], ["n"], keepdims=1),
        helper.make_node("Clip", ["n", "eps"], ["k"]),
        helper.make_node("Expand", ["k", "shape"], ["e"]),
        helper.make_node("Div", ["c", "e"], ["y"]),
    ]
    inits = {**_CONV, "axes": np.array([1], np.int64), "eps": np.array(1e-12, np.float32),
             "shape": np.array([1, 3, 4, 5], np.int64)}  # fmt: skip
    path = _model(tmp_path, "normalize", nodes, {"x": [1, 3, 4, 5]}, {"y": [1, 3, 4, 5]},
                  inits, opset=18)  # fmt: skip
    assert _ncnn_matches(path)
    assert check(load(path), "ncnn").deployable
