"""nnport's exporter cases: Resize nodes exactly as torch.onnx.export writes them, with expected
outputs that ONNX Runtime reproduces, found by name like the suite's cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from nnport.targets.probe import load_cases
from nnport.targets.probe_exporter import DYNAMO_OPSET, OPSETS, PREFIX, RESIZES, exporter_cases

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_expected_outputs_match_onnxruntime() -> None:
    import onnxruntime as ort

    cases = exporter_cases()
    assert len(cases) == len(RESIZES) * (len(OPSETS) + 1)
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
