"""Bad input at the command line is exit 2 with one line on stderr (issue 21, items 7-10)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx_ir as ir
import pytest
from onnx import TensorProto, helper

from nnport.errors import ModelLoadError
from nnport.passes.base import Decline
from nnport.passes.convert_opset import ConvertOpsetPass
from nnport.verify.inputs import generate_inputs

UNWRITABLE = Path("/proc/nnport-no-such-folder")  # not writable by anyone, root included


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("error:"), err
    return lines[0]


# --- item 7: file names and output paths --------------------------------------------------


def _non_utf8_copy(source: Path, folder: Path) -> Path:
    path = Path(os.fsdecode(os.fsencode(folder) + b"/d\xffemo.onnx"))
    shutil.copyfile(source, path)
    return path


def test_port_reads_a_model_whose_file_name_is_not_utf8(
    cli: Any, examples_dir: Path, tmp_path: Path
) -> None:
    model = _non_utf8_copy(examples_dir / "demo.onnx", tmp_path)
    out = tmp_path / "out"
    result = cli("port", model, "-t", "onnxruntime", "-o", out, "--iterations", "2")
    assert result.code == 0, result.err
    assert (out / "report.json").is_file() and (out / "report.html").is_file()
    html = (out / "report.html").read_bytes()
    html.decode("utf-8")  # the report stays valid UTF-8
    assert not list(out.glob(".*"))  # no temp file left


@pytest.mark.parametrize("verb", ["inspect", "check", "compare"])
def test_verbs_read_a_non_utf8_file_name(
    cli: Any, examples_dir: Path, tmp_path: Path, verb: str
) -> None:
    model = _non_utf8_copy(examples_dir / "cast_int64.onnx", tmp_path)
    args = {"inspect": [], "check": ["-t", "ascend310"], "compare": ["-b", "onnxruntime"]}[verb]
    result = cli(verb, model, *args)
    assert result.code in (0, 1), result.err
    assert "Traceback" not in result.err


def test_a_non_utf8_file_name_with_external_data_loads(cli: Any, tmp_path: Path) -> None:
    """onnx's checker takes a path only as UTF-8 text; nnport still reads the model."""
    weight = onnx.numpy_helper.from_array(np.arange(4, dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [weight],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    model = Path(os.fsdecode(os.fsencode(tmp_path) + b"/w\xe9ights.onnx"))
    onnx.save_model(proto, model, save_as_external_data=True, location="w.bin", size_threshold=0)
    before = _digest(tmp_path)
    for args in (["inspect"], ["check", "-t", "onnxruntime"]):
        result = cli(args[0], model, *args[1:])
        assert result.code == 0, result.err
    out = tmp_path / "out"
    out.mkdir()
    for args in (
        ["compare", "-b", "onnxruntime"],
        ["fix", "-t", "ascend310", "-o", out / "f.onnx"],
    ):
        result = cli(args[0], model, *args[1:])
        assert result.code == 0, result.err
    assert _digest(tmp_path) == before


def test_a_non_utf8_file_name_with_unreadable_external_data_is_exit_2(
    cli: Any, tmp_path: Path
) -> None:
    """Found by benchmarks/fuzz.py: an empty offset reached onnx's loader as int('')."""
    weight = onnx.numpy_helper.from_array(np.arange(4, dtype=np.float32), "w")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "w.bin"), ("offset", "")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    (tmp_path / "w.bin").write_bytes(bytes(16))
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
        [weight],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    model = Path(os.fsdecode(os.fsencode(tmp_path) + b"/\xff.onnx"))
    model.write_bytes(proto.SerializeToString())
    result = cli("inspect", model)
    assert result.code in (0, 2), result.err
    if result.code == 2:
        _one_error_line(result.err)


def _writers(examples: Path, out: Path) -> dict[str, list[str | Path]]:
    demo = examples / "demo.onnx"
    return {
        "fix": ["fix", demo, "-t", "ascend310", "-o", out / "fixed.onnx"],
        "port": ["port", demo, "-t", "onnxruntime", "-o", out / "port", "--iterations", "1"],
        "convert": ["convert", examples / "cast_int64.onnx", "--to", "openvino", "-o", out / "ov"],
    }


@pytest.mark.parametrize("verb", ["fix", "port", "convert"])
def test_an_output_folder_that_cannot_be_written_is_exit_2(
    cli: Any, examples_dir: Path, verb: str
) -> None:
    result = cli(*_writers(examples_dir, UNWRITABLE)[verb])
    assert result.code == 2, result.out + result.err
    line = _one_error_line(result.err)
    assert str(UNWRITABLE) in line


@pytest.mark.parametrize("verb", ["fix", "port", "convert"])
def test_an_output_under_a_file_is_exit_2(
    cli: Any, examples_dir: Path, tmp_path: Path, verb: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = cli(*_writers(examples_dir, blocker)[verb])
    assert result.code == 2, result.out + result.err
    assert "a-file" in _one_error_line(result.err)
    assert blocker.read_text() == "not a folder"


def test_fix_output_naming_an_existing_folder_is_exit_2(
    cli: Any, examples_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "existing"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    before = _digest(folder)
    result = cli("fix", examples_dir / "demo.onnx", "-t", "ascend310", "-o", folder)
    assert result.code == 2, result.out + result.err
    line = _one_error_line(result.err)
    assert "folder" in line
    assert _digest(folder) == before and sorted(os.listdir(folder)) == ["keep.txt"]
    assert not list(tmp_path.glob(".nnport-*"))


def test_port_output_naming_an_existing_file_is_exit_2(
    cli: Any, examples_dir: Path, tmp_path: Path
) -> None:
    target = tmp_path / "report-here"
    target.write_text("mine")
    result = cli("port", examples_dir / "demo.onnx", "-t", "onnxruntime", "-o", target)
    assert result.code == 2
    _one_error_line(result.err)
    assert target.read_text() == "mine"


def test_an_os_error_while_writing_is_exit_2_not_3(
    cli: Any, examples_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk (or any OS refusal) met mid-write is reported as one line, exit 2."""
    import nnport.model.io as io

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device", str(tmp_path / "fixed.onnx"))

    monkeypatch.setattr(io, "_write_model", full_disk)
    result = cli("fix", examples_dir / "demo.onnx", "-t", "ascend310", "-o", tmp_path / "f.onnx")
    assert result.code == 2, result.err
    assert "No space left on device" in _one_error_line(result.err)


@pytest.mark.parametrize("verb", ["compare", "bench"])
def test_a_model_too_big_for_memory_is_exit_2(cli: Any, tmp_path: Path, verb: str) -> None:
    """A valid model whose input alone needs 48 GiB: one line saying so, not an internal error."""
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 65536, 65536])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 65536, 65536])],
    )
    model = tmp_path / "big.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), model)
    result = cli(verb, model, "-b", "onnxruntime")
    assert result.code == 2, result.out + result.err
    assert "memory" in _one_error_line(result.err)


# --- item 8: stderr holds nnport's own line -------------------------------------------------


def test_check_of_an_invalid_graph_prints_only_its_error(
    examples_dir: Path, tmp_path: Path
) -> None:
    """onnx-ir warns about a node input defined nowhere; the user sees nnport's line alone.

    A real process: pytest's own log handler would hide how logging is set up in-process."""
    proto = onnx.load(examples_dir / "tile_broadcast.onnx")
    proto.graph.node[-1].input[0] = "nowhere"
    model = tmp_path / "undefined.onnx"
    onnx.save(proto, model)

    def nnport(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "nnport", *args, "check", str(model), "-t", "ascend310"]
        return subprocess.run(command, capture_output=True, text=True, timeout=300)

    result = nnport()
    assert result.returncode == 2
    assert "nowhere" in _one_error_line(result.stderr)
    verbose = nnport("--verbose")
    assert verbose.returncode == 2
    assert "onnx_ir" in verbose.stderr  # --verbose still shows the library's warning


def _reshape_fails_at_run_time(folder: Path) -> Path:
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "s"], ["y"])],
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
            helper.make_tensor_value_info("s", TensorProto.INT64, [1]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [6])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    path = folder / "reshape.onnx"
    onnx.save(model, path)
    return path


def test_onnx_runtime_native_log_lines_stay_off_stderr(
    capfd: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ORT logs a failed node run on fd 2 itself; without --verbose only nnport's line shows."""
    from nnport.cli.app import run

    monkeypatch.delenv("NNPORT_NATIVE_LOGS", raising=False)  # restored after the test
    model = _reshape_fails_at_run_time(tmp_path)
    capfd.readouterr()
    code = run(["compare", str(model), "-b", "onnxruntime"])
    err = capfd.readouterr().err
    assert code == 1
    assert "[E:onnxruntime" not in err
    assert "ONNX Runtime failed to run the model" in _one_error_line(err)
    code = run(["--verbose", "compare", str(model), "-b", "onnxruntime"])
    assert "[E:onnxruntime" in capfd.readouterr().err


@pytest.mark.parametrize("native_logs", ["", "1"])
def test_the_ncnn_worker_keeps_ncnn_log_lines_off_stderr(tmp_path: Path, native_logs: str) -> None:
    """ncnn prints its own errors on fd 2 (here: weights too short for the layer); the worker
    lets them through only when nnport runs --verbose (NNPORT_NATIVE_LOGS=1)."""
    pytest.importorskip("ncnn")
    param = tmp_path / "net.param"
    param.write_text(
        "7767517\n2 2\nInput in0 0 1 in0\nConvolution conv 1 1 in0 out0 0=4 1=3 6=108\n"
    )
    weights = tmp_path / "net.bin"
    weights.write_bytes(b"")
    env = {**os.environ, "NNPORT_NATIVE_LOGS": native_logs}
    worker = [sys.executable, "-m", "nnport.backends._ncnn_worker", str(param), str(weights), "{}"]
    proc = subprocess.run(
        worker, capture_output=True, env=env, timeout=300, stdin=subprocess.DEVNULL
    )
    assert proc.returncode == 0
    assert b"could not load" in proc.stdout  # the error reply still reaches nnport
    if native_logs:
        assert b"load_model" in proc.stderr
    else:
        assert proc.stderr == b""


# --- item 9: a rank-0 bool input ----------------------------------------------------------


def _if_on_a_bool_input(folder: Path) -> Path:
    out = [helper.make_tensor_value_info("b", TensorProto.FLOAT, [2])]
    then = helper.make_graph([helper.make_node("Identity", ["x"], ["b"])], "then", [], out)
    other = helper.make_graph([helper.make_node("Neg", ["x"], ["b"])], "else", [], out)
    graph = helper.make_graph(
        [helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)],
        "g",
        [
            helper.make_tensor_value_info("c", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    path = folder / "if_bool.onnx"
    onnx.save(model, path)
    return path


def test_generated_rank0_inputs_are_arrays(tmp_path: Path) -> None:
    model = ir.load(_if_on_a_bool_input(tmp_path))
    (feed,) = generate_inputs(model)
    assert isinstance(feed["c"], np.ndarray) and feed["c"].shape == () and feed["c"].dtype == bool
    assert isinstance(feed["x"], np.ndarray) and feed["x"].shape == (2,)


@pytest.mark.parametrize("verb", ["compare", "bench", "port"])
def test_a_rank0_bool_input_runs(cli: Any, tmp_path: Path, verb: str) -> None:
    model = _if_on_a_bool_input(tmp_path)
    args: list[str | Path] = {
        "compare": ["compare", model, "-b", "onnxruntime", "-n", "3"],
        "bench": ["bench", model, "-b", "onnxruntime", "--iterations", "2", "--input-shape", "x:2"],
        "port": ["port", model, "-t", "onnxruntime", "-o", tmp_path / "out", "--iterations", "2"],
    }[verb]
    result = cli(*args)
    assert result.code == 0, result.out + result.err
    assert "numpy.bool" not in result.out + result.err


# --- item 10: an opset newer than onnx knows -----------------------------------------------


def _opset_99(folder: Path) -> Path:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 99)], ir_version=8)
    path = folder / "opset99.onnx"
    onnx.save(model, path)
    return path


def test_convert_opset_never_relabels_an_unknown_opset(tmp_path: Path) -> None:
    model = ir.load(_opset_99(tmp_path))
    with pytest.raises((Decline, ModelLoadError), match="99"):
        ConvertOpsetPass(13)(model)
    assert model.opset_imports[""] == 99


@pytest.mark.parametrize("verb", ["check", "fix", "port"])
def test_fix_refuses_an_opset_newer_than_onnx_knows(cli: Any, tmp_path: Path, verb: str) -> None:
    model = _opset_99(tmp_path)
    out = tmp_path / "out"
    output = {"check": [], "fix": ["-o", tmp_path / "f.onnx"], "port": ["-o", out]}[verb]
    result = cli(verb, model, "-t", "ascend310", *output)
    assert result.code == 2, result.out + result.err
    line = _one_error_line(result.err)
    assert "opset 99" in line and str(onnx.defs.onnx_opset_version()) in line
    assert "identical by construction" not in result.out
    assert not out.exists() or not any(out.iterdir())
    assert not (tmp_path / "f.onnx").exists()
