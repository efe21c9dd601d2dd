"""MindSpore sources: a network using GatherD and L2Normalize (which MindSpore cannot export)
is exported anyway, L2Normalize substituted with its epsilon kept, verified against MindSpore's
own forward pass, and READY on ascend310; a corrupted checkpoint is exit 2.

MindSpore runs in subprocesses here: loaded into one process with TensorFlow (the Keras tests)
the two frameworks' native libraries crash it."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

if importlib.util.find_spec("mindspore") is None:
    pytest.skip("the nnport[mindspore] extra is not installed", allow_module_level=True)


def _run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), *sys.path])}
    return subprocess.run([sys.executable, *args], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip


def _nnport(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _run(folder, "-m", "nnport", *args)


NET = textwrap.dedent(
    """
    import mindspore as ms
    from mindspore import nn, ops

    class Net(nn.Cell):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, pad_mode="same", has_bias=True)
            self.gather = ops.GatherD()
            self.l2 = ops.L2Normalize(axis=1, epsilon=1e-4)

        def construct(self, x, idx):
            return self.l2(self.gather(self.conv(x), 1, idx))

    def build():
        ms.set_seed(0)
        return Net()
    """
)


@pytest.fixture()
def network(tmp_path: Path) -> Path:
    (tmp_path / "msnet_fixture.py").write_text(NET)
    save = "import mindspore as ms, msnet_fixture; ms.save_checkpoint(msnet_fixture.build(), 'net.ckpt')"
    assert _run(tmp_path, "-c", save).returncode == 0
    return tmp_path / "net.ckpt"


def test_gatherd_and_l2normalize_export_verified_and_ready(network: Path, tmp_path: Path) -> None:
    out = tmp_path / "net.onnx"
    args = ["export", "msnet_fixture:build", "--checkpoint", str(network), "-o", str(out),
            "--shape", "x:1x3x8x8,idx:1x8x8x8", "--input-dtype", "idx:int64", "--json"]  # fmt: skip
    done = _nnport(tmp_path, *args)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # MindSpore's own notices stay off stderr
    result = json.loads(done.stdout)
    assert [s["op"] for s in result["substitutions"]] == ["L2Normalize"]
    assert {p["pattern"] for p in result["patterns"]} == {"GatherD", "L2Normalize"}
    assert result["export"]["framework"] == "mindspore"
    assert result["timing"]["first_call_s"] > 0
    assert not (tmp_path / "rank_0").exists()  # MindSpore's IR dumps stay out of the user's folder
    done = _nnport(tmp_path, "port", str(out), "-t", "ascend310", "-o", str(tmp_path / "port"))
    assert done.returncode == 0 and "READY" in done.stdout, done.stdout


SUBSTITUTE = textwrap.dedent(
    """
    import numpy as np
    import mindspore as ms
    from mindspore import nn, ops
    from nnport.recipes.mindspore_source import substitute_unexportable

    class Small(nn.Cell):
        def __init__(self):
            super().__init__()
            self.l2 = ops.L2Normalize(axis=1, epsilon=1.0)

        def construct(self, x):
            return self.l2(x)

    x = np.array([[0.1, 0.2], [3.0, 4.0]], np.float32)  # row 0: sum of squares 0.05 < epsilon
    net = Small()
    before = net(ms.Tensor(x)).asnumpy()
    assert len(substitute_unexportable(net)) == 1
    after = net(ms.Tensor(x)).asnumpy()
    expected = x / np.sqrt(np.maximum((x * x).sum(1, keepdims=True), 1.0))
    np.testing.assert_allclose(before, expected, rtol=1e-6)
    np.testing.assert_allclose(after, expected, rtol=1e-6)
    print("ok")
    """
)


def test_substitute_keeps_l2normalize_epsilon(tmp_path: Path) -> None:
    (tmp_path / "substitute.py").write_text(SUBSTITUTE)  # MindSpore compiles from source files
    done = _run(tmp_path, "substitute.py")
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr


def test_corrupted_checkpoint_is_one_line_exit_2(network: Path, tmp_path: Path) -> None:
    network.write_bytes(b"not a checkpoint")
    args = ["export", "msnet_fixture:build", "--checkpoint", str(network), "-o",
            str(tmp_path / "m.onnx"), "--shape", "x:1x3x8x8,idx:1x8x8x8"]  # fmt: skip
    done = _nnport(tmp_path, *args)
    assert done.returncode == 2
    err = done.stderr.strip()
    assert "not a MindSpore checkpoint" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "m.onnx").exists()
