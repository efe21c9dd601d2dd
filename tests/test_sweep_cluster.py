"""``nnport sweep`` on a two-node Ray cluster started on this machine: one node is lost
mid-sweep, and after a rerun every cell has exactly one row."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest

from nnport.sweep.plan import load_plan

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ray = pytest.importorskip("ray", reason="Ray is the nnport[ray] extra: pip install 'nnport[ray]'")


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_two_node_cluster_losing_a_node_mid_sweep_finishes_every_cell_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ray.cluster_utils import Cluster

    from nnport.sweep.engine import SweepOptions, run_sweep

    models = tuple(p.name for p in sorted(EXAMPLES.glob("*.onnx")))
    for name in models:
        shutil.copy(EXAMPLES / name, tmp_path / name)
    plan_path = tmp_path / "plan.toml"
    plan_path.write_text(
        'models = ["*.onnx"]\ntargets = ["onnxruntime"]\nverbs = ["check", "bench"]\n'
        "[bench]\nseconds = 1.0\nwarmup = 1\n"
    )
    plan = load_plan(plan_path)
    out = tmp_path / "results"
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    nodes = [cluster.add_node(num_cpus=1), cluster.add_node(num_cpus=1)]
    try:
        ray.init(address=cluster.address, log_to_driver=False)
        errors: list[BaseException] = []

        def sweep() -> None:
            try:
                run_sweep(plan, out, SweepOptions(timeout=300))
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)

        thread = threading.Thread(target=sweep)
        thread.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (out / "results.jsonl").exists():
            time.sleep(0.2)
        while time.monotonic() < deadline and len(_rows(out)) < 2:
            time.sleep(0.2)
        cluster.remove_node(nodes[1])  # mid-sweep: one of the two workers' node goes away
        thread.join(timeout=600)
        assert not thread.is_alive() and not errors
        run_sweep(plan, out, SweepOptions(timeout=300))  # the rerun redoes what failed
    finally:
        ray.shutdown()
        cluster.shutdown()
    rows = _rows(out)
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)) == 2 * len(models)  # no lost, no duplicated rows
    assert {r["status"] for r in rows} == {"done"}
    capsys.readouterr()
