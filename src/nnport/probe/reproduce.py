"""Whether a runtime still has a measured defect: run its repro (and control) there."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np
import onnx

from nnport.check.defects.registry import DEFECTS
from nnport.targets.profile import TargetProfile


def add_defects(profile: TargetProfile, backend: str) -> TargetProfile:
    """``profile`` with ``[graph] defects`` set to the known defects ``backend`` reproduces now."""
    found = tuple(name for name in DEFECTS if reproduces(name, backend))
    return dataclasses.replace(profile, graph=dataclasses.replace(profile.graph, defects=found))


def reproduces(name: str, backend: str) -> bool:
    """True when ``backend`` has defect ``name``: for a refusal, it refuses the repro and runs
    its control; else it runs the repro and returns other values than ONNX Runtime. A backend
    that fails on a wrong-result repro does not have that defect, it has another."""
    defect, made = DEFECTS[name], DEFECTS[name].repro()
    with tempfile.TemporaryDirectory(prefix="nnport-defect-") as tmp:
        if defect.refusal:
            assert made.control is not None, name
            control_feeds = made.feeds if made.control_feeds is None else made.control_feeds
            return not _runs(backend, made.model, made.feeds, Path(tmp)) and _runs(
                backend, made.control, control_feeds, Path(tmp)
            )
        expected = _run("onnxruntime", made.model, made.feeds, Path(tmp))
        try:
            got = _run(backend, made.model, made.feeds, Path(tmp))
        except Exception:
            return False
    return any(
        got[k].shape != v.shape or not np.array_equal(got[k], v) for k, v in expected.items()
    )


def _run(
    backend: str, model: onnx.ModelProto, feeds: dict[str, np.ndarray], tmp: Path
) -> dict[str, np.ndarray]:
    from nnport.backends import make_runner

    path = tmp / f"model-{id(model)}.onnx"
    onnx.save(model, path)
    with make_runner(backend, path) as runner:
        return runner.infer(feeds)


def _runs(backend: str, model: onnx.ModelProto, feeds: dict[str, np.ndarray], tmp: Path) -> bool:
    try:
        _run(backend, model, feeds, tmp)
    except Exception:
        return False
    return True
