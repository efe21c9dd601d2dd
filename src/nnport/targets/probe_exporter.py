"""Probe cases the node suite lacks: nodes exactly as torch.onnx.export writes them at the
opsets users export at (11, 13, 17 with the TorchScript exporter, 20 with dynamo), each a
one-node model with its expected outputs from onnx's reference implementation.

The suite tests each op at the newest opset and with the attribute values its authors chose, so
a probe run only at the cases' own opsets (ncnn) never sees, for example, the Resize that
``nn.Upsample(scale_factor=2, mode="nearest")`` exports: Resize-11/13 with
``coordinate_transformation_mode = "asymmetric"`` and ``nearest_mode = "floor"``. Without a
case, the derivation refuses attribute values nothing passed with, and check refused the most
common upsampling layer of detectors on ncnn although it converts and matches (dynamo's
Resize-19 as well: the suite has no asymmetric nearest case at any version). These cases
give the derivation that evidence. Their names start with ``nnport_``, so reports tell them
from the suite's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

PREFIX = "nnport_"
OPSETS = (11, 13, 17)  # what torch.onnx.export writes for users' opset_version choices
DYNAMO_OPSET = 20  # torch.onnx.export(..., dynamo=True), the default exporter, writes opset 20
# dynamo writes every Resize-19 attribute out, at its default value
_DYNAMO = {"antialias": 0, "exclude_outside": 0, "extrapolation_value": 0.0,
           "keep_aspect_ratio_policy": "stretch"}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ExporterCase:
    """A probe case with the fields the probe reads from the suite's ``TestCase``."""

    name: str
    model: onnx.ModelProto
    data_sets: list[tuple[list[np.ndarray], list[np.ndarray]]]
    rtol: float = 1e-3
    atol: float = 1e-7
    kind: str = "node"


# torch's F.interpolate / nn.Upsample modes and the Resize attributes they export (opset >= 11;
# torch writes cubic_coeff_a and nearest_mode for every mode)
_TORCH = {"cubic_coeff_a": -0.75, "nearest_mode": "floor"}
RESIZES: dict[str, dict[str, Any]] = {
    "nearest": {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", **_TORCH},
    "bilinear": {"mode": "linear", "coordinate_transformation_mode": "half_pixel", **_TORCH},
    "bilinear_align_corners": {"mode": "linear",
                               "coordinate_transformation_mode": "align_corners", **_TORCH},
    "bicubic": {"mode": "cubic", "coordinate_transformation_mode": "half_pixel", **_TORCH},
}  # fmt: skip


def _resize_case(what: str, opset: int) -> ExporterCase:
    """x [1, 3, 4, 5] upsampled by 2 with constant scales, roi as the opset writes it."""
    rng = np.random.default_rng(opset)
    x = rng.standard_normal((1, 3, 4, 5)).astype(np.float32)
    scales = np.array([1, 1, 2, 2], np.float32)
    # opset 11 needs roi as an input (torch writes an empty constant); 13 accepts it left out
    roi = "roi" if opset == 11 else ""
    inits = [numpy_helper.from_array(scales, "scales")]
    if roi:
        inits.append(numpy_helper.from_array(np.array([], np.float32), "roi"))
    attributes = {**RESIZES[what], **(_DYNAMO if opset == DYNAMO_OPSET else {})}
    node = helper.make_node("Resize", ["x", roi, "scales"], ["y"], **attributes)
    graph = helper.make_graph(
        [node], f"resize_{what}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 10])], inits,
    )  # fmt: skip
    return _case(f"{PREFIX}resize_{what}_opset{opset}", graph, opset, [x])


def _case(name: str, graph: onnx.GraphProto, opset: int, inputs: list[np.ndarray]) -> ExporterCase:
    """The case with expected outputs from onnx's reference implementation."""
    from onnx.reference import ReferenceEvaluator

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    feeds = {i.name: v for i, v in zip(graph.input, inputs, strict=True)}
    expected = [np.asarray(o) for o in ReferenceEvaluator(model).run(None, feeds)]
    return ExporterCase(name, model, [(inputs, expected)])


def exporter_cases() -> list[ExporterCase]:
    """Every exporter case, in a fixed order."""
    return [_resize_case(what, opset) for what in RESIZES for opset in (*OPSETS, DYNAMO_OPSET)]
