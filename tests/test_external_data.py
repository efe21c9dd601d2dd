"""Models with external data: every consumer reads the model's own data files, whatever the
working directory; outputs never overwrite or point to an input's data files (issue 21)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import nnport
from nnport.errors import ModelSaveError

DATA = "weights.bin"
FEED = {"x": np.linspace(-1.0, 1.0, 16, dtype=np.float32).reshape(1, 16)}


def _mlp(seed: int = 0) -> onnx.ModelProto:
    """y = relu(x @ w1 + b1) @ w2: 16 -> 32 -> 8, weights from ``seed``."""
    rng = np.random.default_rng(seed)
    weights = {
        "w1": rng.standard_normal((16, 32)).astype(np.float32),
        "b1": rng.standard_normal((32,)).astype(np.float32),
        "w2": rng.standard_normal((32, 8)).astype(np.float32),
    }
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w1"], ["h"]),
            helper.make_node("Add", ["h", "b1"], ["a"]),
            helper.make_node("Relu", ["a"], ["r"]),
            helper.make_node("MatMul", ["r", "w2"], ["y"]),
        ],
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
        [numpy_helper.from_array(v, k) for k, v in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def _save_external(model: onnx.ModelProto, path: Path, location: str = DATA) -> Path:
    onnx.save_model(
        model, str(path), save_as_external_data=True, location=location, size_threshold=0
    )
    return path


def _run(path: Path) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, FEED)[0])


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    """model/model.onnx + model/weights.bin; truth/inline.onnx (the same model, inline);
    decoy/weights.bin (same size, other weights: what a cwd-relative reader would pick up)."""
    dirs = {name: tmp_path / name for name in ("model", "truth", "decoy", "empty", "out")}
    for folder in dirs.values():
        folder.mkdir()
    model = _mlp()
    onnx.save(model, str(dirs["truth"] / "inline.onnx"))
    _save_external(model, dirs["model"] / "model.onnx")
    decoy = tmp_path / "decoy-src"
    decoy.mkdir()
    _save_external(_mlp(seed=1), decoy / "model.onnx")
    shutil.copy(decoy / DATA, dirs["decoy"] / DATA)
    assert (dirs["decoy"] / DATA).stat().st_size == (dirs["model"] / DATA).stat().st_size
    return dirs


def _outputs(result: Any) -> Any:
    return [(o["name"], o["passed"]) for o in result["outputs"]]


def _model_outputs(path: Path) -> list[float]:
    return [round(float(v), 4) for v in _run(path).ravel()]


# Per verb: its arguments (given the world and a fresh output folder) and what of its outcome
# must not depend on the working directory.
Verb = tuple[Callable[[dict[str, Path], Path], list[str | Path]], Callable[[Any, Path], Any]]
VERBS: dict[str, Verb] = {
    "inspect": (lambda w, o: ["inspect", w["model"] / "model.onnx", "--json"],
                lambda r, o: {k: v for k, v in r.items() if k != "seconds"}),
    "check": (lambda w, o: ["check", w["model"] / "model.onnx", "-t", "openvino", "--json"],
              lambda r, o: (r["deployable"], r["violations"])),
    "fix": (lambda w, o: ["fix", w["model"] / "model.onnx", "-t", "ascend310", "-o",
                          o / "fixed.onnx", "--json"],
            lambda r, o: (r["verified"], _model_outputs(o / "fixed.onnx"))),
    "compare": (lambda w, o: ["compare", w["model"] / "model.onnx", "--against",
                              w["truth"] / "inline.onnx", "--json"],
                lambda r, o: (r["passed"], _outputs(r))),
    "compare-openvino": (lambda w, o: ["compare", w["model"] / "model.onnx", "-b", "openvino",
                                       "--against", w["truth"] / "inline.onnx", "--json"],
                         lambda r, o: (r["passed"], _outputs(r))),
    "port": (lambda w, o: ["port", w["model"] / "model.onnx", "-t", "openvino", "-o", o,
                           "--iterations", "2", "--json"],
             lambda r, o: ([c["passed"] for c in r["compares"]],
                           _model_outputs(o / "model.openvino.onnx"))),
    "bench": (lambda w, o: ["bench", w["model"] / "model.onnx", "--iterations", "2", "--json"],
              lambda r, o: [t["error"] for t in r["timings"]]),
    "convert": (lambda w, o: ["convert", w["model"] / "model.onnx", "--to", "openvino", "-o",
                              o / "ir", "--json"],
                lambda r, o: (o / "ir" / "model.bin").read_bytes()),
}  # fmt: skip


@pytest.mark.parametrize("where", ["decoy", "empty"])
@pytest.mark.parametrize("verb", list(VERBS))
def test_every_verb_gives_the_same_result_from_another_folder(
    world: dict[str, Path], cli, monkeypatch: pytest.MonkeyPatch, verb: str, where: str
) -> None:
    """Beside the model and from a folder with no data file, or with a same-named file of
    other weights (which must never be read): the same exit code and the same result."""
    make_args, outcome = VERBS[verb]
    results = []
    for cwd in ("model", where):
        out = world["out"] / f"{verb}-{cwd}"
        out.mkdir()
        monkeypatch.chdir(world[cwd])
        result = cli(*make_args(world, out))
        assert result.code == 0, (cwd, result.err)
        results.append((result.code, outcome(json.loads(result.out), out)))
    assert results[0] == results[1]
    if verb in ("fix", "port"):  # and the written model computes what the original does
        assert results[0][1][1] == _model_outputs(world["truth"] / "inline.onnx")


def test_a_same_named_file_in_the_working_directory_is_never_read(
    world: dict[str, Path], cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The decoy holds other weights: comparing the model with itself must not pass on them,
    and comparing it with its inline copy must pass."""
    from nnport.verify.compare import compare

    monkeypatch.chdir(world["decoy"])
    model = nnport.load(world["model"] / "model.onnx")
    for backend in ("onnxruntime", "openvino", "reference"):
        result = compare(model, against=world["truth"] / "inline.onnx", backend=backend)
        assert result.passed, backend


def test_fix_refuses_to_write_over_the_inputs_data_file(world: dict[str, Path], cli) -> None:
    data = world["model"] / DATA
    before = data.read_bytes()
    result = cli("fix", world["model"] / "model.onnx", "-t", "ascend310", "-o", data)
    assert result.code == 2, result.err
    assert "refusing to overwrite" in result.err and DATA in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert data.read_bytes() == before


def test_save_refuses_any_file_the_model_reads(world: dict[str, Path]) -> None:
    model = nnport.load(world["model"] / "model.onnx")
    for target in (world["model"] / DATA, world["model"] / "model.onnx"):
        with pytest.raises(ModelSaveError, match="overwrite"):
            nnport.save(model, target)
    # A link to the data file is the data file.
    link = world["out"] / "link.onnx"
    link.symlink_to(world["model"] / DATA)
    with pytest.raises(ModelSaveError, match="overwrite"):
        nnport.save(model, link)


def test_convert_refuses_to_overwrite_the_inputs_data_file(tmp_path: Path, cli) -> None:
    """OpenVINO writes model.bin; the input's weights are model.bin in the same folder."""
    path = _save_external(_mlp(), tmp_path / "net.onnx", location="model.bin")
    before = (tmp_path / "model.bin").read_bytes()
    result = cli("convert", path, "--to", "openvino", "-o", tmp_path)
    assert result.code == 2, result.err
    assert "refusing to overwrite" in result.err
    assert (tmp_path / "model.bin").read_bytes() == before
    assert not (tmp_path / "model.xml").exists()


def test_port_refuses_to_overwrite_the_inputs_data_file(tmp_path: Path, cli) -> None:
    """port writes <stem>.<target>.onnx into -o; here that is the input's data file."""
    path = _save_external(_mlp(), tmp_path / "net.onnx", location="net.openvino.onnx")
    before = (tmp_path / "net.openvino.onnx").read_bytes()
    result = cli("port", path, "-t", "openvino", "-o", tmp_path, "--iterations", "0")
    assert result.code == 2, result.err
    assert "refusing to overwrite" in result.err
    assert (tmp_path / "net.openvino.onnx").read_bytes() == before


def test_a_fixed_model_written_elsewhere_is_self_contained(world: dict[str, Path], cli) -> None:
    out = world["out"] / "fixed.onnx"
    result = cli("fix", world["model"] / "model.onnx", "-t", "ascend310", "-o", out)
    assert result.code == 0, result.err
    expected = _run(world["truth"] / "inline.onnx")
    shutil.rmtree(world["model"])  # the input's data is gone: the output must not need it
    proto = onnx.load(str(out), load_external_data=False)
    assert all(t.data_location != TensorProto.EXTERNAL for t in proto.graph.initializer)
    np.testing.assert_array_equal(_run(out), expected)
    assert sorted(p.name for p in out.parent.iterdir()) == ["fixed.onnx"]


def test_a_large_output_gets_its_own_data_file_beside_it(
    world: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the inline limit the output's weights go to OUT.data beside it, never to the
    input's file; both appear together."""
    from nnport.model import io

    monkeypatch.setattr(io, "EXTERNAL_DATA_THRESHOLD", 1000)
    model = nnport.load(world["model"] / "model.onnx")
    out = world["out"] / "big.onnx"
    nnport.save(model, out)
    expected = _run(world["truth"] / "inline.onnx")
    shutil.rmtree(world["model"])
    proto = onnx.load(str(out), load_external_data=False)
    locations = {
        e.value for t in proto.graph.initializer for e in t.external_data if e.key == "location"
    }
    assert locations == {"big.onnx.data"}
    np.testing.assert_array_equal(_run(out), expected)
    assert sorted(p.name for p in out.parent.iterdir()) == ["big.onnx", "big.onnx.data"]


def test_external_data_in_a_subgraph_is_resolved_and_written_inline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An If branch's initializer stored externally: ONNX Runtime runs it from elsewhere, and
    a saved copy carries the weight itself."""
    weight = np.arange(8, dtype=np.float32).reshape(1, 8)
    branch = helper.make_graph(
        [helper.make_node("Add", ["x", "k"], ["z"])],
        "then",
        [],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 8])],
        [numpy_helper.from_array(weight, "k")],
    )
    other = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["z2"])],
        "else",
        [],
        [helper.make_tensor_value_info("z2", TensorProto.FLOAT, [1, 8])],
    )
    graph = helper.make_graph(
        [helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=other)],
        "g",
        [
            helper.make_tensor_value_info("c", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder = tmp_path / "m"
    folder.mkdir()
    path = _save_external(model, folder / "if.onnx")
    assert (folder / DATA).stat().st_size == weight.nbytes
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loaded = nnport.load(path)
    feed = {"c": np.array(True), "x": np.ones((1, 8), np.float32)}
    from nnport.backends import make_runner

    for backend in ("onnxruntime", "reference"):
        with make_runner(backend, loaded) as runner:
            np.testing.assert_array_equal(runner.infer(feed)["y"], weight + 1, err_msg=backend)
    nnport.save(loaded, tmp_path / "copy.onnx")
    shutil.rmtree(folder)
    session = ort.InferenceSession(str(tmp_path / "copy.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(session.run(None, feed)[0], weight + 1)


def _dynamo_like(folder: Path) -> Path:
    """What torch's dynamo exporter writes: MODEL.onnx and its weights in MODEL.onnx.data."""
    return _save_external(_mlp(), folder / "mlp.onnx", location="mlp.onnx.data")


def test_fix_of_a_dynamo_style_model_writes_a_loadable_model_elsewhere(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    path = _dynamo_like(src)
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)
    result = cli("fix", path, "-t", "ascend310", "-o", "mlp.fixed.onnx", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["verified"]
    expected = _run(path)
    shutil.rmtree(src)
    np.testing.assert_array_equal(_run(out / "mlp.fixed.onnx"), expected)


def test_a_model_that_cannot_be_loaded_is_exit_2_also_with_json(tmp_path: Path, cli) -> None:
    path = _dynamo_like(tmp_path)
    (tmp_path / "mlp.onnx.data").unlink()
    for args in (["fix", path, "-t", "ascend310", "-o", tmp_path / "o.onnx"], ["inspect", path]):
        result = cli(*args, "--json")
        assert result.code == 2, result.err
        assert "mlp.onnx.data" in result.err
        assert len(result.err.strip().splitlines()) == 1
        if result.out.strip():  # --json: nothing on stdout, or one JSON error document
            assert "error" in json.loads(result.out)
    assert not (tmp_path / "o.onnx").exists()


@pytest.mark.slow
def test_torch_dynamo_export_fixes_from_another_folder(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real dynamo export (weights in MODEL.onnx.data), fixed from elsewhere into a third
    folder: the output loads and runs after the export's folder is removed."""
    torch = pytest.importorskip("torch")
    src = tmp_path / "export"
    src.mkdir()
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 8)
    ).eval()
    path = src / "net.onnx"
    torch.onnx.export(
        net, (torch.randn(1, 16),), str(path), dynamo=True, external_data=True,
        input_names=["x"], output_names=["y"],
    )  # fmt: skip
    assert (src / "net.onnx.data").is_file()
    expected = net(torch.from_numpy(FEED["x"])).detach().numpy()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    out = tmp_path / "out"
    out.mkdir()
    result = cli("fix", path, "-t", "ascend310", "-o", out / "net.onnx", "--json")
    assert result.code == 0, result.err
    shutil.rmtree(src)
    np.testing.assert_allclose(_run(out / "net.onnx"), expected, rtol=1e-5, atol=1e-6)


def test_opset_conversion_keeps_reading_the_models_own_data(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ascend310 takes opsets 9-13: fix converts an opset-18 model whose weights are external,
    from another folder, and the output computes what the original does."""
    src = tmp_path / "src"
    src.mkdir()
    model = _mlp()
    model.opset_import[0].version = 18
    path = _save_external(model, src / "o18.onnx")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    out = tmp_path / "fixed.onnx"
    result = cli("fix", path, "-t", "ascend310", "-o", out, "--json")
    assert result.code == 0, result.err
    assert onnx.load(str(out)).opset_import[0].version <= 13
    np.testing.assert_array_equal(_run(out), _run(path))
