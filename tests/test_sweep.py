"""``nnport sweep`` on real Ray: plans refused before any cell runs, a local sweep that resumes,
a segfaulting worker recorded as failed, and a two-node cluster that loses a node mid-sweep."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nnport.cli.app import main
from nnport.errors import UsageError
from nnport.sweep.plan import load_plan

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ray = pytest.importorskip("ray", reason="Ray is the nnport[ray] extra: pip install 'nnport[ray]'")


def _plan(
    folder: Path, text: str, models: tuple[str, ...] = ("demo.onnx", "cast_int64.onnx")
) -> Path:
    for name in models:
        shutil.copy(EXAMPLES / name, folder / name)
    path = folder / "plan.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def local_ray():  # one local instance for the local tests: the sweeps join it
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('models = ["missing.onnx"]\ntargets = ["ncnn"]\nverbs = ["check"]\n', "missing.onnx"),
        ('models = ["*.onnx"]\ntargets = ["ascend999"]\nverbs = ["check"]\n', "ascend999"),
        ('models = ["*.onnx"]\ntargets = ["ncnn"]\nverbs = ["fix"]\n[fix]\nrtoll = 1\n', "rtoll"),
        ('models = ["*.onnx"]\ntargets = ["ncnn"]\nverbs = ["fix"]\n[fix]\nrtol = "x"\n', "rtol"),
        ('models = ["*.onnx"]\ntargets = ["ncnn"]\nverbs = ["convert"]\n', "convert"),
        (
            'models = ["*.onnx"]\ntargets = ["ncnn"]\nverbs = ["check"]\nprecisions = ["fp8"]\n',
            "fp8",
        ),
    ],
)
def test_bad_plan_is_refused_before_any_cell_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, named: str
) -> None:
    plan = _plan(tmp_path, text)
    with pytest.raises(UsageError, match=named):
        load_plan(plan)
    out = tmp_path / "results"
    assert main(["sweep", str(plan), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert named in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_local_sweep_records_every_cell_and_a_rerun_skips_them(
    local_ray: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _plan(
        tmp_path,
        'models = ["*.onnx"]\ntargets = ["ascend310", "onnxruntime"]\nverbs = ["check", "compare"]\n'
        "[compare]\nsamples = 1\n",
        models=("cast_int64.onnx", "opset17.onnx"),
    )
    out = tmp_path / "results"
    code = main(["sweep", str(plan), "-o", str(out), "--cpus", "2", "--json"])
    first = json.loads(capsys.readouterr().out)
    rows = _rows(out)
    # 2 models x (2 check cells + 1 compare cell: ascend310 is no runtime to compare on)
    assert first["cells"] == 6 and first["left_out"] == 2 and len(rows) == 6
    assert {r["status"] for r in rows} == {"done"}
    by = {(Path(r["model"]).name, r["target"], r["verb"]): r for r in rows}
    # the sweep's verdicts are check's own: the int64 Cast blocks ascend310
    assert by[("cast_int64.onnx", "ascend310", "check")]["verdict"] == "fail"
    assert by[("cast_int64.onnx", "onnxruntime", "compare")]["verdict"] == "pass"
    assert by[("cast_int64.onnx", "ascend310", "check")]["result"]["deployable"] is False
    assert code == 1  # some cell said "not deployable"
    summary = (out / "summary.html").read_text()
    assert "cast_int64.onnx" in summary and "ascend310" in summary
    for row in rows:
        assert (out / "cells" / row["key"] / "result.json").exists()

    main(["sweep", str(plan), "-o", str(out), "--cpus", "2", "--json"])
    again = json.loads(capsys.readouterr().out)
    assert again["ran"] == 0 and again["already_done"] == 6
    assert len(_rows(out)) == 6


def test_a_segfaulting_worker_is_recorded_failed_and_the_sweep_completes(
    local_ray: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan = _plan(tmp_path, 'models = ["*.onnx"]\ntargets = ["onnxruntime"]\nverbs = ["check"]\n')
    out = tmp_path / "results"
    monkeypatch.setenv("NNPORT_SWEEP_FAULT", "segfault:demo.onnx")
    assert main(["sweep", str(plan), "-o", str(out), "--cpus", "2"]) == 1
    rows = {Path(r["model"]).name: r for r in _rows(out)}
    assert rows["demo.onnx"]["status"] == "failed"
    assert "crashed" in rows["demo.onnx"]["detail"]
    assert rows["cast_int64.onnx"]["status"] == "done"
    assert rows["cast_int64.onnx"]["verdict"] == "pass"
    capsys.readouterr()

    monkeypatch.delenv("NNPORT_SWEEP_FAULT")  # the crash is gone: a rerun redoes that cell only
    main(["sweep", str(plan), "-o", str(out), "--cpus", "2", "--json"])
    again = json.loads(capsys.readouterr().out)
    assert again["ran"] == 1
    rows_after = _rows(out)
    assert len(rows_after) == 2 and {r["status"] for r in rows_after} == {"done"}
