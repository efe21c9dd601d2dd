"""ncnn runner (worker process) and pnnx conversion against ONNX Runtime on real models."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import onnx
import pytest

from nnport.backends import make_runner
from nnport.errors import BackendError, InputSpecError
from nnport.model import load
from nnport.verify.inputs import generate_inputs

pytest.importorskip("ncnn")
pytest.importorskip("pnnx")


@pytest.fixture(scope="session")
def resnet18_ncnn(resnet18_export: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ResNet-18 export converted once to ncnn (f32 weights)."""
    from nnport.backends.ncnn import convert_to_ncnn

    return convert_to_ncnn(resnet18_export, tmp_path_factory.mktemp("ncnn") / "resnet18")


def test_ncnn_matches_onnxruntime_on_resnet18_batch(
    resnet18_export: Path, resnet18_ncnn: Path
) -> None:
    model = load(resnet18_export)
    feeds = generate_inputs(model, samples=2, seed=3)
    with make_runner("onnxruntime", model) as ref:
        expected = np.concatenate([ref.infer(f)["logits"] for f in feeds])
    batch = {"input": np.concatenate([f["input"] for f in feeds])}
    with make_runner("ncnn", resnet18_ncnn.parent) as runner:
        got = runner.infer(batch)["logits"]
        config = runner.config()
    assert config["precision"] == "f32" and config["fp16_weights"] == "false"
    assert got.shape == expected.shape == (2, 1000)
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)
    assert sorted(p.name for p in resnet18_ncnn.parent.iterdir()) == [
        "model.ncnn.bin",
        "model.ncnn.param",
        "model.nnport.json",
    ]


def test_ncnn_worker_crash_becomes_backend_error(resnet18_ncnn: Path) -> None:
    runner = make_runner("ncnn", resnet18_ncnn)
    with runner:
        os.kill(runner._process.pid, signal.SIGKILL)  # a native crash, as seen from outside
        with pytest.raises(BackendError, match="crashed"):
            runner.infer({"input": np.zeros((1, 3, 224, 224), np.float32)})


def test_ncnn_hung_worker_times_out_as_its_own_failure(resnet18_ncnn: Path) -> None:
    """A worker that stops answering (SIGSTOP) is killed at its deadline: a WorkerTimeoutError
    naming the deadline, not a hang and not a 'crashed'."""
    import time

    from nnport.errors import WorkerTimeoutError

    runner = make_runner("ncnn", resnet18_ncnn, timeout="90")
    with runner:
        assert runner.config()["worker_timeout_s"] == "90"
        runner.deadline_s = 2.0  # loading took its time on a busy machine; now be strict
        pid = runner._process.pid
        os.kill(pid, signal.SIGSTOP)
        start = time.monotonic()
        with pytest.raises(WorkerTimeoutError, match=r"did not answer within 2 s") as caught:
            runner.infer({"input": np.zeros((1, 3, 224, 224), np.float32)})
        assert time.monotonic() - start < 60
        assert "crashed" not in str(caught.value)
        assert runner._process.poll() is not None  # the stopped worker was ended


def test_ncnn_worker_deadline_scales_with_the_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    from nnport.backends.ncnn import TIMEOUT_ENV, worker_deadline
    from nnport.errors import UsageError

    monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    small, large = worker_deadline(1 << 20), worker_deadline(500 << 20)
    assert 60 <= small < large
    assert worker_deadline(500 << 20, 7) == 7.0
    monkeypatch.setenv(TIMEOUT_ENV, "11")
    assert worker_deadline(500 << 20) == 11.0
    with pytest.raises(UsageError, match="positive"):
        worker_deadline(0, "-3")


def test_ncnn_needs_shapes_for_dynamic_inputs(examples_dir: Path, tmp_path: Path) -> None:
    from nnport.backends.ncnn import convert_to_ncnn

    with pytest.raises(InputSpecError, match="dynamic"):
        convert_to_ncnn(examples_dir / "dynamic_input.onnx", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_ncnn_runs_an_onnx_model_with_input_shapes(examples_dir: Path) -> None:
    model = load(examples_dir / "dynamic_input.onnx")
    (feed,) = generate_inputs(model, {"x": (3, 3, 8, 8)}, seed=0)
    with make_runner("onnxruntime", model) as ref:
        expected = ref.infer(feed)
    # a dynamic batch is converted as 1 (ncnn has no batch axis) and run sample by sample
    with make_runner("ncnn", model, input_shapes={"x": (3, 3, 8, 8)}) as runner:
        assert runner.input_specs()[0].shape == (1, 3, 8, 8)
        got = runner.infer(feed)
        assert got["y"].shape == expected["y"].shape == (3, 10)
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-4, atol=1e-5)


def test_ncnn_unsupported_op_is_named(tmp_path: Path) -> None:
    from nnport.backends.ncnn import convert_to_ncnn

    model = onnx.parser.parse_model(
        """
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[1,3,4] x) => (float[1,3,1] y) { y = LpNormalization <axis=2> (x) }
        """
    )
    model.graph.node[0].name = "l2norm"
    path = tmp_path / "lp.onnx"
    onnx.save(model, path)
    with pytest.raises(BackendError, match=r"LpNormalization.*'l2norm'"):
        convert_to_ncnn(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("g (float[4] a, float[4] b) => (float[] y) { y = MatMul(a, b) }", ()),
        ("g (float[1,3,4] x) => (float[] y) { y = ReduceSum <keepdims=0> (x) }", ()),
        (
            """g (float[1,3,2,2] x) => (float[1] y) {
                   w = Constant <value = float[3,3,1,1] {1,0,0,0,1,0,0,0,1}> ()
                   c = Conv(x, w)
                   a = Constant <value = int64[3] {1,2,3}> ()
                   y = ReduceSum <keepdims=0> (c, a)
               }""",
            (1,),
        ),
    ],
)
def test_ncnn_returns_scalar_and_one_element_outputs_in_their_shape(
    tmp_path: Path, text: str, shape: tuple[int, ...]
) -> None:
    """A rank-0 output has no batch axis: it comes back as a scalar, not as [1] or [1, 1]; a
    [1] output of a batch-1 model keeps its one axis (MatMul of two vectors, a full reduction)."""
    model = onnx.parser.parse_model('<ir_version: 8, opset_import: ["" : 13]>\n' + text)
    model.graph.output[0].type.tensor_type.shape.SetInParent()  # "float[]" parses as rank unknown
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    feeds = generate_inputs(load(path), seed=0)[0]
    with make_runner("onnxruntime", path) as ref:
        (want,) = ref.infer(feeds).values()
    with make_runner("ncnn", path) as runner:
        (got,) = runner.infer(feeds).values()
    assert want.shape == shape and got.shape == shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
