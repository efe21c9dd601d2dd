"""Detection-aware compare: boxes matched by IoU and class, NMS ties not read as mismatches,
and compare() on a random-weight detector across runtimes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnport.verify.detections import (
    DetectionAccumulator,
    DetectionLayout,
    DetectionOptions,
    Dets,
    find_layout,
    match,
    nms,
)

PRE = DetectionLayout("pre", boxes="boxes", scores="scores")


def _outputs(boxes: list[list[float]], scores: list[list[float]]) -> dict[str, np.ndarray]:
    return {
        "boxes": np.array([boxes], np.float32),
        "scores": np.array([scores], np.float32),
    }


def test_nms_and_match() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    assert nms(boxes, np.array([0.9, 0.8, 0.7]), 0.5).tolist() == [0, 2]
    ref = Dets(boxes[[0, 2]], np.array([0.9, 0.7]), np.array([0, 1]))
    cand = Dets(boxes[[1]], np.array([0.85]), np.array([0]))
    m = match(ref, cand, 0.5)
    assert [p[:2] for p in m.pairs] == [(0, 0)] and m.missed == (1,) and m.extra == ()
    wrong_class = Dets(boxes[[0]], np.array([0.9]), np.array([2]))
    assert match(ref, wrong_class, 0.5).extra == (0,)


def test_find_layout_by_shape_and_name() -> None:
    assert find_layout(_outputs([[0, 0, 1, 1]], [[0.5, 0.1]])) == PRE
    rows = {"detections": np.zeros((3, 6), np.float32)}
    assert find_layout(rows) == DetectionLayout("post", rows="detections")
    assert find_layout({"logits": np.zeros((1, 10), np.float32)}) is None


def test_tied_scores_do_not_read_as_a_mismatch() -> None:
    """A, B, C in a chain (A~B, B~C overlap, A and C apart): which survive NMS hangs on the
    order of A and B, here a 1e-7 tie broken differently by the two runs."""
    boxes = [[0, 0, 10, 10], [3, 0, 13, 10], [6, 0, 16, 10]]
    ref = _outputs(boxes, [[0.5000001], [0.5], [0.4]])
    cand = _outputs(boxes, [[0.5], [0.5000001], [0.4]])
    acc = DetectionAccumulator(PRE, DetectionOptions())
    acc.add(ref, cand)
    result = acc.result()
    assert result.passed and result.tie_explained > 0 and result.missed == 0
    # the same kept sets from genuinely different boxes are a mismatch
    moved = _outputs(
        [[0, 0, 10, 10], [3, 0, 13, 10], [40, 40, 50, 50]], [[0.5000001], [0.5], [0.4]]
    )
    acc = DetectionAccumulator(PRE, DetectionOptions())
    acc.add(ref, moved)
    bad = acc.result()
    assert not bad.passed and bad.missed == 1 and bad.extra == 1 and bad.changed_samples == (0,)


def test_post_nms_rows_of_different_lengths() -> None:
    layout = DetectionLayout("post", rows="detections")
    ref = {"detections": np.array([[0, 0, 10, 10, 0.9, 1], [20, 20, 30, 30, 0.8, 0]], np.float32)}
    moved = ref["detections"][::-1].copy()
    moved[:, :4] += 0.2  # the other order, boxes a fifth of a pixel off
    same = {"detections": moved}
    acc = DetectionAccumulator(layout, DetectionOptions())
    acc.add(ref, same)
    assert acc.result().passed and acc.result().matched == 2
    fewer = {"detections": ref["detections"][:1]}
    acc = DetectionAccumulator(layout, DetectionOptions())
    acc.add(ref, fewer)
    assert not acc.result().passed and acc.result().missed == 1


@pytest.fixture(scope="module")
def random_detector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight detector exported with boxes decoded in the graph; the class head's
    weights are shrunk so every score ties near 0.5 (only float noise tells them apart)."""
    torch = pytest.importorskip("torch")
    from nnport.recipes.detector import build_detector, for_export
    from nnport.recipes.export import ExportOptions, export

    torch.manual_seed(0)
    net = build_detector(3, 16, "rgb,letterbox=64,scale=1/255")
    with torch.no_grad():
        net.head.weight[4:] *= 1e-6
        net.head.bias[4:] = 0.0
    out = tmp_path_factory.mktemp("det") / "random_det.onnx"
    export(for_export(net), out, ExportOptions(shapes=((1, 3, 64, 64),), atol=1e-4))
    return out


def test_compare_matches_boxes_across_runtimes(random_detector: Path) -> None:
    pytest.importorskip("openvino")
    from nnport.model.io import load
    from nnport.verify.compare import CompareOptions, compare

    model = load(random_detector)
    result = compare(
        model, backend="openvino", options=CompareOptions(samples=2, rtol=1e-3, atol=1e-3)
    )
    assert result.detections is not None
    det = result.detections
    assert det.layout == "pre" and det.reference_boxes > 0
    assert result.passed, det.message
    assert det.missed == 0 and det.extra == 0
    assert {o.name for o in result.outputs} == {"boxes", "scores"}  # tensors still reported


def test_compare_flags_a_detector_that_moved_its_boxes(random_detector: Path) -> None:
    import onnx_ir as ir

    from nnport.model.io import load
    from nnport.verify.compare import CompareOptions, compare

    model = load(random_detector)
    broken = load(random_detector)
    boxes = broken.graph.outputs[0]
    assert boxes.name == "boxes"
    # shift every box by 30 pixels: the element-wise error and the box matching both see it
    shift = ir.Value(name="shift", const_value=ir.tensor(np.array([30.0], np.float32)))
    broken.graph.initializers["shift"] = shift
    add = ir.node("Add", [boxes, shift], outputs=[ir.Value(name="boxes_shifted")])
    broken.graph.append(add)
    broken.graph.outputs[0] = add.outputs[0]
    add.outputs[0].name = "boxes"
    boxes.name = "boxes_raw"
    result = compare(model, against=broken, options=CompareOptions(samples=1))
    assert result.detections is not None and not result.passed
    assert result.detections.missed > 0


def test_cli_compare_on_images_by_boxes(capsys: pytest.CaptureFixture[str]) -> None:
    """`compare --images` preprocesses by the model's spec; the verdict is the box matching."""
    pytest.importorskip("PIL")
    import json

    from nnport.cli.app import run

    root = Path(__file__).resolve().parents[1]
    model, images = root / "examples" / "shapes_detector.onnx", root / "examples" / "shapes"
    code = run(["compare", str(model), "--images", str(images), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["samples"] == 8
    det = data["detections"]
    assert (
        det["passed"] and det["reference_boxes"] >= 8 and det["matched"] == det["reference_boxes"]
    )
    assert run(["compare", str(model), "--images", str(images), "--preprocess", "cmyk"]) == 2
