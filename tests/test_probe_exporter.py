"""nnport's exporter cases: Resize nodes exactly as torch.onnx.export writes them, with expected
outputs that ONNX Runtime reproduces, found by name like the suite's cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from nnport.probe.engine import load_cases
from nnport.probe.exporter import (
    DYNAMO_OPSET,
    OPSETS,
    PADS,
    PREFIX,
    PRELU_SLOPES,
    RESIZES,
    exporter_cases,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Constant folding:UserWarning"),  # torch's, for pads
]


def test_expected_outputs_match_onnxruntime() -> None:
    import onnxruntime as ort

    cases = exporter_cases()
    assert len(cases) == (len(RESIZES) + len(PADS) + len(PRELU_SLOPES) + 1) * (len(OPSETS) + 1)
    for case in cases:
        session = ort.InferenceSession(case.model.SerializeToString())
        (inputs, expected) = case.data_sets[0]
        got = session.run(
            None, dict(zip([i.name for i in session.get_inputs()], inputs, strict=True))
        )
        for g, e in zip(got, expected, strict=True):
            np.testing.assert_allclose(g, e, rtol=case.rtol, atol=1e-6, err_msg=case.name)


def test_named_exporter_cases_load_like_suite_cases() -> None:
    name = f"{PREFIX}resize_nearest_opset13"
    (case,) = load_cases(names=[name])
    assert case.name == name and case.model.opset_import[0].version == 13


@pytest.mark.parametrize("opset", [*OPSETS, DYNAMO_OPSET])
@pytest.mark.parametrize(
    ("what", "mode", "align_corners"),
    [("nearest", "nearest", None), ("bilinear", "bilinear", False),
     ("bilinear_align_corners", "bilinear", True), ("bicubic", "bicubic", False)],
)  # fmt: skip
def test_the_resize_attributes_are_what_torch_exports(
    tmp_path: Path, what: str, mode: str, align_corners: bool | None, opset: int
) -> None:
    torch = pytest.importorskip("torch")

    class Up(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.interpolate(
                x, scale_factor=2, mode=mode, align_corners=align_corners
            )

    path = tmp_path / "up.onnx"
    dynamo = opset == DYNAMO_OPSET  # the default exporter, at its default opset
    torch.onnx.export(Up().eval(), (torch.randn(1, 3, 4, 5),), str(path),
                      **({"dynamo": True} if dynamo else {"opset_version": opset, "dynamo": False}))  # fmt: skip
    (resize,) = [n for n in onnx.load(path).graph.node if n.op_type == "Resize"]
    exported = {a.name: onnx.helper.get_attribute_value(a) for a in resize.attribute}
    exported = {k: v.decode() if isinstance(v, bytes) else v for k, v in exported.items()}
    assert onnx.load(path).opset_import[0].version == opset
    (case,) = load_cases(names=[f"{PREFIX}resize_{what}_opset{opset}"])
    (node,) = case.model.graph.node
    ours = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    ours = {k: v.decode() if isinstance(v, bytes) else v for k, v in ours.items()}
    assert ours == pytest.approx(exported)
    assert len(node.input) == len(resize.input) and bool(node.input[1]) == bool(resize.input[1])


@pytest.mark.parametrize(
    ("what", "case"),
    [("zero", "pad_zero"), ("reflect", "pad_reflect"), ("replicate", "pad_replicate"),
     ("prelu3", "prelu_channels"), ("prelu1", "prelu_one"),
     ("deconv", "conv_transpose_stride2")],
)  # fmt: skip
def test_the_other_nodes_are_what_torch_exports(tmp_path: Path, what: str, case: str) -> None:
    """Op, attributes and constant shapes of each case against torch's own export at 17."""
    torch = pytest.importorskip("torch")
    from torch import nn

    module = {
        "zero": lambda: nn.ZeroPad2d((1, 2, 0, 1)), "reflect": lambda: nn.ReflectionPad2d(1),
        "replicate": lambda: nn.ReplicationPad2d(1), "prelu3": lambda: nn.PReLU(3),
        "prelu1": lambda: nn.PReLU(),
        "deconv": lambda: nn.ConvTranspose2d(3, 2, 3, 2, 1, output_padding=1),
    }[what]()  # fmt: skip
    path = tmp_path / "m.onnx"
    torch.onnx.export(module.eval(), (torch.randn(1, 3, 4, 5),), str(path), opset_version=17,
                      dynamo=False)  # fmt: skip
    exported = onnx.load(path)
    (case_model,) = [c.model for c in exporter_cases() if c.name == f"{PREFIX}{case}_opset17"]
    (ours,) = case_model.graph.node
    (theirs,) = [n for n in exported.graph.node if n.op_type == ours.op_type]

    def attributes(node: onnx.NodeProto) -> dict[str, object]:
        return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    assert attributes(ours) == attributes(theirs) and len(ours.input) == len(theirs.input)
    shapes = {i.name: list(i.dims) for i in exported.graph.initializer}
    ours_shapes = {i.name: list(i.dims) for i in case_model.graph.initializer}
    for mine, their in zip(ours.input[1:], theirs.input[1:], strict=True):
        if their in shapes:  # constants torch stores as initializers (weights, slopes)
            assert ours_shapes[mine] == shapes[their]
    got = ort_run(case_model)
    assert got.shape == tuple(
        d.dim_value for d in case_model.graph.output[0].type.tensor_type.shape.dim
    )


def ort_run(model: onnx.ModelProto) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString())
    x = np.zeros((1, 3, 4, 5), np.float32)
    return session.run(None, {"x": x})[0]
