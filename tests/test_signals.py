"""Interrupted, killed and failed runs: SIGTERM is handled like SIGINT, a stopped run never exits
0, temporary files never outlive their run, and outputs get the umask's permissions."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import nnport

# A child that runs `nnport fix` whose model write stops half way (the temporary file is on
# disk, the output is not): it touches READY and waits there for the signal.
_BLOCKED_FIX = """
import sys, time
from pathlib import Path
import nnport.model.io as io
from nnport.cli.app import main

model, out, ready = sys.argv[1:4]
original = io._write_model

def half_written(m, path):
    original(m, path)
    Path(ready).touch()
    time.sleep(120)

io._write_model = half_written
sys.exit(main(["fix", model, "-t", "ascend310", "-o", out]))
"""


# A lighter child for the sweeps: it only holds a half-written save until it is killed.
_BLOCKED_SAVE = """
import sys, time
from pathlib import Path
import nnport
import nnport.model.io as io

model, out, ready = sys.argv[1:4]
original = io._write_model

def half_written(m, path):
    original(m, path)
    Path(ready).touch()
    time.sleep(120)

io._write_model = half_written
nnport.save(nnport.load(model), out)
"""


def _model(path: Path) -> Path:
    rng = np.random.default_rng(0)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 256])],
        [numpy_helper.from_array(rng.standard_normal((256, 256)).astype(np.float32), "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _start_blocked_fix(
    tmp_path: Path, out: Path, script: str = _BLOCKED_FIX
) -> tuple[subprocess.Popen[bytes], Path]:
    model = _model(tmp_path / "m.onnx")
    ready = tmp_path / "ready"
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(model), str(out), str(ready)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        assert time.monotonic() < deadline, "the child never reached its write"
        time.sleep(0.05)
    return child, model


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".nnport"))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_during_a_write_leaves_nothing_and_exits_nonzero(
    tmp_path: Path, sig: signal.Signals
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    child, _ = _start_blocked_fix(tmp_path, out / "fixed.onnx")
    assert _temporaries(out), "the write should be under way"
    child.send_signal(sig)
    code = child.wait(timeout=60)
    assert code == 128 + sig, child.stderr.read() if child.stderr else ""
    assert _temporaries(out) == []
    assert not (out / "fixed.onnx").exists()


def test_temporaries_of_a_killed_run_are_swept_by_the_next_but_never_a_live_runs(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    live, model = _start_blocked_fix(tmp_path, out / "live.onnx", _BLOCKED_SAVE)
    other = tmp_path / "other"
    other.mkdir()
    killed, _ = _start_blocked_fix(other, out / "killed.onnx", _BLOCKED_SAVE)
    try:
        killed.kill()  # SIGKILL: nothing can clean up after it
        killed.wait(timeout=60)
        stranded = set(_temporaries(out))
        assert len(stranded) == 2
        nnport.save(nnport.load(model), out / "next.onnx")  # the next run beside them
        left = set(_temporaries(out))
        assert len(left) == 1 and f"-{live.pid}-" in left.pop()  # the live run's stays
        assert live.poll() is None
    finally:
        live.kill()
        live.wait(timeout=60)
    nnport.save(nnport.load(model), out / "again.onnx")
    assert _temporaries(out) == []
    assert sorted(p.name for p in out.iterdir()) == ["again.onnx", "next.onnx"]


def test_a_sweep_leaves_other_hosts_and_unknown_names_alone(tmp_path: Path) -> None:
    from nnport.model.atomic import PREFIX, sweep_stale, temp_name

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    pid = int(dead.stdout)
    mine = temp_name("save").rsplit("-", 2)[0]  # .nnport-save-<host>
    names = [
        f"{mine}-{pid}-0123abcd",  # this host, process gone: swept
        f"{PREFIX}save-otherhost-{pid}-0123abcd",  # another machine's: left
        f"{PREFIX}export-a1b2c3",  # not named by this scheme: left
        f"{mine}-{os.getpid()}-0123abcd",  # this process: left
    ]
    for name in names:
        (tmp_path / name).mkdir()
    removed = sweep_stale(tmp_path)
    assert [p.name for p in removed] == [names[0]]
    assert sorted(_temporaries(tmp_path)) == sorted(names[1:])


_SWALLOWS_INTERRUPT = """
import os, signal, sys, time
import nnport.model.summary as summary
from nnport.cli.app import main

original = summary.inspect

def swallowing(model):
    try:  # a library that catches the KeyboardInterrupt and carries on
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)
    except KeyboardInterrupt:
        pass
    return original(model)

summary.inspect = swallowing
sys.exit(main(["inspect", sys.argv[1]]))
"""


def test_an_interrupt_swallowed_on_the_way_still_does_not_exit_0(tmp_path: Path) -> None:
    model = _model(tmp_path / "m.onnx")
    done = subprocess.run(
        [sys.executable, "-c", _SWALLOWS_INTERRUPT, str(model)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 128 + signal.SIGINT, done.stderr


def test_a_failed_ncnn_conversion_leaves_no_folder_in_tmpdir(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pnnx cannot convert a model with a dynamic input and no --input-shape (or an op it
    lacks): compare -b ncnn fails, and nothing of it stays in TMPDIR."""
    pytest.importorskip("ncnn")
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    graph = helper.make_graph(
        [helper.make_node("NonZero", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.INT64, [2, None])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "nonzero.onnx"
    onnx.save(model, str(path))
    result = cli("compare", path, "-b", "ncnn")
    assert result.code != 0
    assert list(tmp.iterdir()) == []


def test_outputs_respect_the_umask(tmp_path: Path, cli) -> None:
    """port's model, reports and artifacts are 0644 under umask 022 (0640 under 027)."""
    model = _model(tmp_path / "m.onnx")
    for mask, mode in ((0o022, 0o644), (0o027, 0o640)):
        old = os.umask(mask)
        try:
            out = tmp_path / f"port{mask:o}"
            result = cli("port", model, "-t", "openvino", "-o", out, "--iterations", "0")
            assert result.code == 0, result.err
        finally:
            os.umask(old)
        files = [p for p in out.rglob("*") if p.is_file()]
        assert {"report.json", "report.html", "m.openvino.onnx"} <= {p.name for p in files}
        for path in files:
            assert path.stat().st_mode & 0o777 == mode, (path, oct(path.stat().st_mode))
