"""OpenVINO runner and conversion against ONNX Runtime on real models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnport.backends import make_runner
from nnport.errors import BackendError, UsageError
from nnport.model import load
from nnport.verify.inputs import generate_inputs

pytest.importorskip("openvino")


def test_openvino_matches_onnxruntime_on_resnet18(resnet18_export: Path) -> None:
    model = load(resnet18_export)
    (feed,) = generate_inputs(model, seed=1)
    with make_runner("onnxruntime", model) as ort_runner:
        expected = ort_runner.infer(feed)["logits"]
    with make_runner("openvino", model) as runner:
        got = runner.infer(feed)["logits"]
        config = runner.config()
        assert [s.name for s in runner.input_specs()] == ["input"]
    assert config["requested_precision"] == "f32"
    assert config["precision"] == "f32"
    assert got.shape == expected.shape == (1, 1000)
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)


def test_convert_to_openvino_writes_ir_that_runs(examples_dir: Path, tmp_path: Path) -> None:
    from nnport.backends.openvino import convert_to_openvino

    model = load(examples_dir / "demo.onnx")
    out = tmp_path / "ov"
    xml = convert_to_openvino(model, out, input_shapes={"image": (2, 3, 16, 16)})
    assert xml == out / "model.xml"
    assert sorted(p.name for p in out.iterdir()) == ["model.bin", "model.xml"]
    (feed,) = generate_inputs(model, {"image": (2, 3, 16, 16)})
    with make_runner("onnxruntime", model) as ref, make_runner("openvino", xml) as runner:
        expected = ref.infer(feed)
        got = runner.infer(feed)
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-4, atol=1e-5)


def test_openvino_rejects_unknown_precision(examples_dir: Path) -> None:
    with pytest.raises(UsageError, match="precision"):
        make_runner("openvino", examples_dir / "demo.onnx", precision="int3")


def test_openvino_conversion_failure_names_the_op(tmp_path: Path) -> None:
    import onnx

    from nnport.backends.openvino import convert_to_openvino

    model = onnx.parser.parse_model(
        """
        <ir_version: 8, opset_import: ["" : 17, "acme" : 1]>
        g (float[2] x) => (float[2] y) { y = acme.Frobnicate <alpha: float = 1.0> (x) }
        """
    )
    path = tmp_path / "custom.onnx"
    onnx.save(model, path)
    out = tmp_path / "out"
    with pytest.raises(BackendError, match="Frobnicate"):
        convert_to_openvino(path, out)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["custom.onnx"]


def test_conversion_leaves_the_host_programs_logging_alone(
    examples_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ov.convert_model sets the root logger to ERROR; nnport puts it back."""
    import logging

    root = logging.getLogger()
    before = (root.level, list(root.filters), list(root.handlers))
    with make_runner("openvino", examples_dir / "cast_int64.onnx"):
        pass
    assert (root.level, list(root.filters), list(root.handlers)) == before
    logging.getLogger("nnport.test").warning("still heard")
    assert "still heard" in caplog.text


@pytest.mark.parametrize(
    ("graph", "feeds"),
    [
        # CastLike's second input only gives the type: OpenVINO drops it from the compiled model
        (
            "(float[3,4] x, float16[1] like) => (float16[3,4] y) { y = CastLike(x, like) }",
            {
                "x": np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4),
                "like": np.zeros(1, np.float16),
            },
        ),
        # Max of one input folds to the input itself; its port carries only the output's name
        ("(float[3] x) => (float[3] y) { y = Max(x) }", {"x": np.array([1, -2, 3], np.float32)}),
        # an axes input declared empty is folded to a constant (reduce over every axis)
        (
            "(float[2,3] x, int64[0] axes) => (float[1,1] y) { y = ReduceSum<keepdims=1>(x, axes) }",
            {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "axes": np.zeros(0, np.int64)},
        ),
        # eval Dropout folds away: x's port is named y, and the unused ratio is dropped
        (
            "(float[2,3] x, float r) => (float[2,3] y) { y = Dropout(x, r) }",
            {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "r": np.array(0.5, np.float32)},
        ),
    ],
    ids=["castlike-unused-input", "max-one-input", "reduce-empty-axes", "dropout-ratio-input"],
)
@pytest.mark.parametrize("in_memory", [False, True], ids=["file", "in-memory"])
def test_openvino_feeds_inputs_the_compiled_model_renamed_or_dropped(
    graph: str, feeds: dict[str, np.ndarray], in_memory: bool, tmp_path: Path
) -> None:
    import onnx

    from nnport.model.io import load

    proto = onnx.parser.parse_model(f'<ir_version: 10, opset_import: ["" : 21]>\ng {graph}')
    path = tmp_path / "m.onnx"
    onnx.save(proto, path)
    source = load(path) if in_memory else path  # OpenVINO drops more inputs converting bytes
    with make_runner("onnxruntime", path) as ref, make_runner("openvino", source) as runner:
        expected = ref.infer(feeds)
        got = runner.infer(feeds)
        assert {s.name for s in runner.input_specs()} <= set(feeds)
    assert got.keys() == expected.keys() == {"y"}
    np.testing.assert_array_equal(got["y"], expected["y"])


def test_openvino_sends_nothing_and_writes_nothing_under_home(
    examples_dir: Path, tmp_path: Path
) -> None:
    """OpenVINO's telemetry is off for nnport's process: converting and running on OpenVINO (a
    fresh interpreter, as a user runs it) leaves HOME empty (no ~/intel/ client id or stats) and
    no telemetry session file in TMPDIR. The user's consent file is not needed for that."""
    import os
    import subprocess
    import sys

    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "TF_BUILD", "JENKINS_URL")}
    env.update(HOME=str(home), TMPDIR=str(tmp))
    demo = examples_dir / "demo.onnx"
    nnport = [sys.executable, "-m", "nnport"]
    for argv in (
        [*nnport, "convert", str(demo), "--to", "openvino", "-o", str(tmp_path / "ov")],
        [*nnport, "compare", str(demo), "-b", "openvino", "-s", "image:1x3x16x16"],
    ):
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "ov" / "model.xml").is_file()
    assert sorted(p.name for p in home.rglob("*")) == []
    assert not [p for p in tmp.rglob("*") if p.name.endswith(".ses")]
