"""Every seed failure in examples/ is flagged with the right node, rule and fix id."""

from __future__ import annotations

from pathlib import Path

import onnx_ir as ir
import pytest

from nnport.check import CheckReport, Violation, check
from nnport.model import load
from nnport.targets import list_targets


def _run(examples_dir: Path, name: str, target: str, **kwargs: object) -> CheckReport:
    return check(load(examples_dir / f"{name}.onnx"), target, **kwargs)  # type: ignore[arg-type]


def _find(report: CheckReport, rule: str, *, node: str = "", tensor: str = "") -> Violation:
    for v in report.violations:
        if v.rule == rule and (not node or v.node == node) and (not tensor or v.tensor == tensor):
            return v
    listing = "\n".join(f"{v.where} {v.rule} {v.fix}" for v in report.violations)
    raise AssertionError(f"no {rule} violation at {node or tensor} in:\n{listing}")


def test_cast_int64_on_ascend310(examples_dir: Path) -> None:
    report = _run(examples_dir, "cast_int64", "ascend310")
    assert not report.deployable
    assert [(v.node, v.rule, v.fix) for v in report.violations] == [
        ("Cast_3", "dtype-unsupported", "retype-int64")
    ]
    v = report.violations[0]
    assert (v.op, v.domain, v.opset, v.tensor) == ("Cast", "ai.onnx", 13, "as_long")
    assert "Cast 'Cast_3' outputs int64; ascend310's Cast cannot output int64" in v.message


def test_tile_broadcast_on_ascend310(examples_dir: Path) -> None:
    report = _run(examples_dir, "tile_broadcast", "ascend310")
    v = _find(report, "input-not-constant", node="Tile_3")
    assert v.fix in ("fold-constants", "freeze-shapes")
    assert v.tensor == "repeats"
    assert [x.node for x in report.violations] == ["Tile_3"]


def test_gather_elements_on_ascend310(examples_dir: Path) -> None:
    report = _run(examples_dir, "gather_elements", "ascend310")
    v = _find(report, "io-dtype", tensor="ind")
    assert v.fix == "cast-graph-io"
    assert "int64" in v.message


@pytest.mark.parametrize(("name", "tensor"), [("lp_normalization", "x"), ("dynamic_input", "x")])
def test_dynamic_inputs_on_ascend310(examples_dir: Path, name: str, tensor: str) -> None:
    report = _run(examples_dir, name, "ascend310")
    v = _find(report, "dynamic-shape", tensor=tensor)
    assert v.fix == "freeze-shapes"
    assert "gear" in v.message  # batch/image dims may vary only through ATC gears


def test_dynamic_input_shape_chain_needs_freezing(examples_dir: Path) -> None:
    report = _run(examples_dir, "dynamic_input", "ascend310")
    v = _find(report, "input-not-constant", node="Reshape_7")
    assert v.fix == "freeze-shapes"
    # Once the input shape is fixed, the same chain only needs constant folding.
    frozen = _run(examples_dir, "dynamic_input", "ascend310", input_shapes={"x": (1, 3, 32, 32)})
    assert not any(v.rule == "dynamic-shape" for v in frozen.violations)
    assert _find(frozen, "input-not-constant", node="Reshape_7").fix == "fold-constants"


def test_input_shapes_make_lp_normalization_deployable(examples_dir: Path) -> None:
    report = _run(examples_dir, "lp_normalization", "ascend310", input_shapes={"x": (4, 32)})
    assert report.deployable, report.violations
    assert report.input_shapes == {"x": (4, 32)}


def test_opset17_on_ascend310(examples_dir: Path) -> None:
    report = _run(examples_dir, "opset17", "ascend310")
    opset = _find(report, "opset-out-of-range")
    assert (opset.fix, opset.opset, opset.domain) == ("convert-opset", 17, "ai.onnx")
    ln = _find(report, "op-unsupported", node="LayerNorm_1")
    assert (ln.op, ln.fix) == ("LayerNormalization", "decompose-layernorm")
    # CANN 8 (ascend310p) accepts opset 17 and lists LayerNormalization.
    assert _run(examples_dir, "opset17", "ascend310p").deployable


def test_demo_on_ascend310(examples_dir: Path) -> None:
    report = _run(examples_dir, "demo", "ascend310")
    found = {(v.where, v.rule, v.fix) for v in report.violations}
    assert ("model", "opset-out-of-range", "convert-opset") in found
    assert ("image", "dynamic-shape", "freeze-shapes") in found
    assert ("quant_cast_int64", "dtype-unsupported", "retype-int64") in found
    assert report.fixes[0] == "convert-opset"
    assert sum(g.count for g in report.summary) == len(report.violations)


@pytest.mark.parametrize(
    ("name", "node", "op", "fix"),
    [
        ("tile_broadcast", "Tile_3", "Tile", "rewrite-tile"),
        ("lp_normalization", "LpNormalization_1", "LpNormalization", "decompose-lpnorm"),
        ("gather_elements", "GatherElements_2", "GatherElements", "decompose-gather-elements"),
        ("demo", "act1", "HardSwish", "decompose-hardswish"),
    ],
)
def test_unsupported_ops_on_nnie(
    examples_dir: Path, name: str, node: str, op: str, fix: str
) -> None:
    v = _find(_run(examples_dir, name, "nnie"), "op-unsupported", node=node)
    assert (v.op, v.fix) == (op, fix)


def test_shape_only_ops_on_nnie_fold_away(examples_dir: Path) -> None:
    report = _run(examples_dir, "tile_broadcast", "nnie")
    assert _find(report, "op-unsupported", node="Shape_0").fix == "fold-constants"


def test_examples_run_on_onnxruntime(examples_dir: Path) -> None:
    for path in sorted(examples_dir.glob("*.onnx")):
        report = check(load(path), "onnxruntime")
        assert report.deployable, (path.name, report.violations)


def test_violations_are_in_topological_order(examples_dir: Path) -> None:
    model = load(examples_dir / "demo.onnx")
    order = {node.name: i for i, node in enumerate(model.graph)}
    report = check(model, "nnie")
    positions = [order[v.node] for v in report.violations if v.node]
    assert positions == sorted(positions)


def test_check_does_not_modify_the_model(examples_dir: Path) -> None:
    model = load(examples_dir / "dynamic_input.onnx")
    before = ir.serde.serialize_model(model).SerializeToString()
    check(model, "ascend310", input_shapes={"x": (1, 3, 8, 8)})
    assert ir.serde.serialize_model(model).SerializeToString() == before


def test_resnet18_export_passes_runnable_targets(resnet18_export: Path) -> None:
    model = load(resnet18_export)
    report = check(model, "onnxruntime")
    assert report.deployable, report.violations
    names = {t.name for t in list_targets()}
    for runtime in ("openvino", "ncnn"):  # probed profiles (nnport targets probe)
        if runtime in names:
            result = check(model, runtime)
            assert result.deployable, (runtime, result.violations)
    # Opset 17 is newer than ATC of CANN 6.0 accepts; nothing else in ResNet-18 is refused.
    ascend = check(model, "ascend310")
    assert [v.rule for v in ascend.violations] == ["opset-out-of-range"]


def test_external_data_models_are_checked(
    examples_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onnx

    proto = onnx.load(str(examples_dir / "tile_broadcast.onnx"))
    path = tmp_path / "ext" / "model.onnx"
    path.parent.mkdir()
    onnx.save(proto, str(path), save_as_external_data=True, location="w.bin", size_threshold=0)
    monkeypatch.chdir(tmp_path)  # external data must resolve next to the model, not the cwd
    from nnport.check.infer import validate_graph

    model = load(path, validate=False)
    validate_graph(model, str(path))
    report = check(model, "ascend310")
    assert [(v.node, v.rule) for v in report.violations] == [("Tile_3", "input-not-constant")]
