"""Keras and MindSpore sources end to end: a Keras ResNet50-style classifier (random weights, the
rose recipe's head: GAP, Dense 1024 ReLU, Dense softmax) and a MindSpore network with GatherD
and L2Normalize go through export (verified against the source) -> port for ascend310 and ncnn
(check, fix, re-check, compare). Each step runs as the CLI in its own process (TensorFlow and
MindSpore cannot share one).

    python benchmarks/sources.py [--size 224]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

KERAS = """
import keras
keras.utils.set_random_seed(0)
base = keras.applications.ResNet50(include_top=False, weights=None, input_shape=({s}, {s}, 3))
x = keras.layers.GlobalAveragePooling2D()(base.output)
x = keras.layers.Dense(1024, activation="relu")(x)
out = keras.layers.Dense(5, activation="softmax")(x)
keras.Model(base.input, out).save("roses.keras")
"""
MINDSPORE_NET = """
import mindspore as ms
from mindspore import nn, ops

class Net(nn.Cell):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, pad_mode="same", has_bias=True)
        self.relu = nn.ReLU()
        self.gather = ops.GatherD()
        self.l2 = ops.L2Normalize(axis=1, epsilon=1e-4)

    def construct(self, x, idx):
        return self.l2(self.gather(self.relu(self.conv(x)), 1, idx))

def build():
    ms.set_seed(0)
    return Net()
"""


def _run(folder: Path, *args: str) -> tuple[int, str, float]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=folder, capture_output=True, text=True)
    return done.returncode, done.stdout, time.perf_counter() - start


def _port(folder: Path, model: str, target: str) -> str:
    code, out, seconds = _run(folder, "-m", "nnport", "port", model, "-t", target, "-o",
                              f"port-{target}", "--json")  # fmt: skip
    try:
        result = json.loads(out)
    except json.JSONDecodeError:
        return f"exit {code} ({seconds:.0f} s)"
    errors = [o["max_abs_err"] for c in result.get("compares", []) for o in c.get("outputs", [])]
    left = result["check_after"]["violations"]
    failed = [s["name"] for s in result.get("stages", []) if s.get("status") == "failed"]
    why = f"{len(left)} violation(s) left" + (f"; failed: {', '.join(failed)}" if failed else "")
    verdict = "READY" if code == 0 else f"NOT READY ({why})"
    worst = f", max abs err {max(errors):.2g}" if errors else ""
    return f"{verdict}{worst} ({seconds:.0f} s)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="nnport-sources-") as tmp:
        folder = Path(tmp)
        (folder / "make_keras.py").write_text(KERAS.format(s=args.size))
        assert _run(folder, "make_keras.py")[0] == 0
        code, out, seconds = _run(folder, "-m", "nnport", "export", "roses.keras", "-o",
                                  "roses.onnx", "--layout", "nchw", "--json")  # fmt: skip
        diff = json.loads(out)["models"][0]["max_abs_diff"] if code == 0 else float("nan")
        rows.append(("Keras ResNet50 + head", f"exit {code}, max |diff| vs Keras {diff:.2g} "
                     f"({seconds:.0f} s)", _port(folder, "roses.onnx", "ascend310"),
                     _port(folder, "roses.onnx", "ncnn")))  # fmt: skip
        (folder / "msnet.py").write_text(textwrap.dedent(MINDSPORE_NET))
        save = "import mindspore as ms, msnet; ms.save_checkpoint(msnet.build(), 'net.ckpt')"
        assert _run(folder, "-c", save)[0] == 0
        code, out, seconds = _run(folder, "-m", "nnport", "export", "msnet:build", "--checkpoint",
                                  "net.ckpt", "-o", "net.onnx", "--shape",
                                  "x:1x3x32x32,idx:1x16x32x32", "--input-dtype", "idx:int64",
                                  "--json")  # fmt: skip
        diff = json.loads(out)["export"]["models"][0]["max_abs_diff"] if code == 0 else float("nan")
        rows.append(("MindSpore GatherD + L2Normalize", f"exit {code}, max |diff| vs MindSpore "
                     f"{diff:.2g} ({seconds:.0f} s)", _port(folder, "net.onnx", "ascend310"),
                     _port(folder, "net.onnx", "ncnn")))  # fmt: skip
    print("| source | export | port -t ascend310 | port -t ncnn |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
