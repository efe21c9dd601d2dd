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
give the derivation that evidence; so do the Pad modes of ``nn.ReflectionPad2d`` and
``nn.ReplicationPad2d`` (the suite's cases of them use int32 data), ``nn.PReLU``'s per-channel
slope and a ConvTranspose with ``output_padding`` and a constant weight (the suite feeds every
ConvTranspose weight at run time). Their names start with ``nnport_``, so reports tell them
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


# nn.ZeroPad2d((1, 2, 0, 1)), nn.ReflectionPad2d(1), nn.ReplicationPad2d(1): Pad's mode and the
# pads torch computes (a Shape/Concat chain the converter folds; here the folded constant)
PADS: dict[str, tuple[str, list[int]]] = {
    "zero": ("constant", [0, 0, 0, 1, 0, 0, 1, 2]),
    "reflect": ("reflect", [0, 0, 1, 1, 0, 0, 1, 1]),
    "replicate": ("edge", [0, 0, 1, 1, 0, 0, 1, 1]),
}
PRELU_SLOPES = {"channels": [3, 1, 1], "one": [1, 1, 1]}  # nn.PReLU(3), nn.PReLU()


def _one_node(name: str, node: onnx.NodeProto, out: list[int], opset: int,
              inits: list[onnx.TensorProto]) -> ExporterCase:  # fmt: skip
    """A case of ``node`` on x [1, 3, 4, 5] with constant ``inits``."""
    x = np.random.default_rng(opset).standard_normal((1, 3, 4, 5)).astype(np.float32)
    graph = helper.make_graph(
        [node], name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out)], inits,
    )  # fmt: skip
    return _case(f"{PREFIX}{name}_opset{opset}", graph, opset, [x])


def _pad_case(what: str, opset: int) -> ExporterCase:
    mode, pads = PADS[what]
    inputs = ["x", "pads"] + (["value"] if mode == "constant" else [])
    inits = [numpy_helper.from_array(np.array(pads, np.int64), "pads")]
    if mode == "constant":
        inits.append(numpy_helper.from_array(np.array(0.0, np.float32), "value"))
    out = [
        1 + pads[0] + pads[4],
        3 + pads[1] + pads[5],
        4 + pads[2] + pads[6],
        5 + pads[3] + pads[7],
    ]
    node = helper.make_node("Pad", inputs, ["y"], mode=mode)
    return _one_node(f"pad_{what}", node, out, opset, inits)


def _prelu_case(what: str, opset: int) -> ExporterCase:
    rng = np.random.default_rng(1)
    slope = rng.uniform(0.1, 0.3, PRELU_SLOPES[what]).astype(np.float32)
    node = helper.make_node("PRelu", ["x", "slope"], ["y"])
    return _one_node(f"prelu_{what}", node, [1, 3, 4, 5], opset,
                     [numpy_helper.from_array(slope, "slope")])  # fmt: skip


def _conv_transpose_case(opset: int) -> ExporterCase:
    """nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1)."""
    rng = np.random.default_rng(2)
    weight = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(2).astype(np.float32)
    node = helper.make_node("ConvTranspose", ["x", "weight", "bias"], ["y"], dilations=[1, 1],
                            group=1, kernel_shape=[3, 3], output_padding=[1, 1],
                            pads=[1, 1, 1, 1], strides=[2, 2])  # fmt: skip
    inits = [numpy_helper.from_array(weight, "weight"), numpy_helper.from_array(bias, "bias")]
    return _one_node("conv_transpose_stride2", node, [1, 2, 8, 10], opset, inits)


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
    opsets = (*OPSETS, DYNAMO_OPSET)
    return (
        [_resize_case(what, opset) for what in RESIZES for opset in opsets]
        + [_pad_case(what, opset) for what in PADS for opset in opsets]
        + [_prelu_case(what, opset) for what in PRELU_SLOPES for opset in opsets]
        + [_conv_transpose_case(opset) for opset in opsets]
    )
