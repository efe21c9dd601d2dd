"""Which ops of pnnx's table ncnn can really run: tiny single-purpose models on image-shaped tensors.

The ncnn profile adds the ops pnnx's ONNX table names (probe_profiles.py, ``supplement``) because
the node suite's batch-2 and 1-D cases say little about ncnn (implicit batch axis). This script
measures the doubtful ones the way exported models use them, on a [1, 3, 8, 8] float tensor:
each model converts through pnnx, runs in ncnn (in a probe worker subprocess) and is compared
with ONNX Runtime (values compared after casting: ncnn computes in float32).

    python benchmarks/ncnn_layers.py          # prints one line per model
"""

from __future__ import annotations

import os
import pickle
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnx.parser

from nnport.probe.engine import DEFAULT_OPTIONS, Task
from nnport.probe.pool import run_tasks

X = "float[1, 3, 8, 8] x"
HEAD = '<ir_version: 8, opset_import: ["" : 17]>'

# name -> (op measured, graph body); x holds whole numbers in [-2, 2] so Equal has hits.
MODELS: dict[str, tuple[str, str]] = {
    "equal": ("Equal", f"g ({X}) => (bool[1, 3, 8, 8] y) {{ c = Constant<value = float[1] {{1}}>() y = Equal(x, c) }}"),
    "greater": ("Greater", f"g ({X}) => (bool[1, 3, 8, 8] y) {{ c = Constant<value = float[1] {{0}}>() y = Greater(x, c) }}"),
    "less": ("Less", f"g ({X}) => (bool[1, 3, 8, 8] y) {{ c = Constant<value = float[1] {{0}}>() y = Less(x, c) }}"),
    "not": ("Not", f"g ({X}) => (bool[1, 3, 8, 8] y) {{ c = Constant<value = float[1] {{0}}>() g = Greater(x, c) y = Not(g) }}"),
    "and": ("And", f"g ({X}) => (bool[1, 3, 8, 8] y) {{ c = Constant<value = float[1] {{0}}>() d = Constant<value = float[1] {{2}}>() a = Greater(x, c) b = Less(x, d) y = And(a, b) }}"),
    "or": ("Or", f"g ({X}) => (bool[1, 3, 8, 8] y) {{ c = Constant<value = float[1] {{0}}>() d = Constant<value = float[1] {{-1}}>() a = Greater(x, c) b = Less(x, d) y = Or(a, b) }}"),
    "where": ("Where", f"g ({X}) => (float[1, 3, 8, 8] y) {{ c = Constant<value = float[1] {{0}}>() s = Constant<value = float[1] {{0.1}}>() g = Greater(x, c) z = Mul(x, s) y = Where(g, x, z) }}"),
    "slice_step1": ("Slice", f"g ({X}) => (float[1, 3, 4, 8] y) {{ s = Constant<value = int64[1] {{0}}>() e = Constant<value = int64[1] {{4}}>() a = Constant<value = int64[1] {{2}}>() t = Constant<value = int64[1] {{1}}>() y = Slice(x, s, e, a, t) }}"),
    "slice_step2": ("Slice", f"g ({X}) => (float[1, 3, 4, 8] y) {{ s = Constant<value = int64[1] {{0}}>() e = Constant<value = int64[1] {{8}}>() a = Constant<value = int64[1] {{2}}>() t = Constant<value = int64[1] {{2}}>() y = Slice(x, s, e, a, t) }}"),
    "shape": ("Shape", f"g ({X}) => (int64[4] y) {{ y = Shape(x) }}"),
    "range": ("Range", f"g ({X}) => (float[N] y) {{ z = Constant<value = float {{0}}>() o = Constant<value = float {{1}}>() m = ReduceMax<keepdims = 0>(x) y = Range(z, m, o) }}"),
    "tile": ("Tile", f"g ({X}) => (float[1, 3, 16, 16] y) {{ r = Constant<value = int64[4] {{1, 1, 2, 2}}>() y = Tile(x, r) }}"),
    "tile_channels": ("Tile", f"g ({X}) => (float[1, 6, 8, 8] y) {{ r = Constant<value = int64[4] {{1, 2, 1, 1}}>() y = Tile(x, r) }}"),
}  # fmt: skip


def measure(timeout: float = 120.0) -> dict[str, tuple[str, str, str]]:
    """name -> (op, status, message) for every model above, through pnnx + ncnn."""
    import onnxruntime as ort

    x = np.random.default_rng(0).integers(-2, 3, size=(1, 3, 8, 8)).astype(np.float32)
    tasks = []
    with tempfile.TemporaryDirectory(prefix="nnport-ncnn-layers-") as tmp:
        for name, (op, body) in MODELS.items():
            model = onnx.parser.parse_model(f"{HEAD}\n{body}")
            path = Path(tmp) / f"{name}.onnx"
            onnx.save(model, str(path))
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            expected = session.run(None, {"x": x})
            data = Path(tmp) / f"{name}.pkl"
            data.write_bytes(pickle.dumps(([x], expected)))
            tasks.append(Task(name, name, op, "", 17, 17, path, data, 1e-4, 1e-5, True, (),
                               loose_dtype=True))  # fmt: skip
        options = {**DEFAULT_OPTIONS["ncnn"], "input_shapes": {"x": x.shape}}
        outcomes = run_tasks(tasks, "ncnn", options, workers=1, timeout=timeout)
    return {t.id: (t.op, o.status, o.message) for t, o in zip(tasks, outcomes, strict=True)}


def main() -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    for name, (op, status, message) in measure().items():
        print(f"{name:12s} {op:8s} {status:6s} {message[:150]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
