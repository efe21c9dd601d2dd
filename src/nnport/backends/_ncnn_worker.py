"""The ncnn worker process: loads a param/bin pair and runs requests sent over a pipe."""

from __future__ import annotations

import json
import os
import sys
import time
from multiprocessing.connection import Connection
from typing import Any


def main(argv: list[str]) -> None:
    """Entry point: ``python -m nnport.backends._ncnn_worker PARAM BIN OPTIONS_JSON``.

    Requests arrive on stdin and replies leave on the original stdout; fd 1 is then pointed
    at stderr so that anything native code prints cannot corrupt the reply stream, and stderr
    at /dev/null unless NNPORT_NATIVE_LOGS=1 (``nnport --verbose``).
    """
    reply_fd = os.dup(1)
    if os.environ.get("NNPORT_NATIVE_LOGS") != "1":  # ncnn's own log lines: only at --verbose
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 2)
        os.close(quiet)
    os.dup2(2, 1)

    class _Duplex:
        def __init__(self) -> None:
            self.reader = Connection(0, writable=False)
            self.writer = Connection(reply_fd, readable=False)

        def recv(self) -> Any:
            return self.reader.recv()

        def send(self, obj: Any) -> None:
            self.writer.send(obj)

    serve(_Duplex(), argv[0], argv[1], json.loads(argv[2]))  # type: ignore[arg-type]


def serve(conn: Connection, param: str, weights: str, options: dict[str, Any]) -> None:
    """Load the net, answer ("infer", feeds) requests until ("stop",) or the pipe closes.

    Every reply is ("ok", payload) or ("error", message); a native crash ends the process,
    which the parent sees as a closed pipe.
    """
    import numpy as np

    try:
        import ncnn

        net = ncnn.Net()
        # The CPUs this process may use (a container often has fewer than the host's count).
        net.opt.num_threads = int(options.get("threads") or len(os.sched_getaffinity(0)))
        # No OpenMP spin-waiting between layers: on a busy machine spinning threads starve
        # each other (measured: ResNet-18 with 2 threads took 1.5 s spinning, 0.5 s without).
        net.opt.openmp_blocktime = 0
        low = options.get("precision", "f32") == "f16"
        net.opt.use_fp16_storage = low
        net.opt.use_fp16_packed = low
        net.opt.use_fp16_arithmetic = low
        net.opt.use_bf16_storage = False
        net.opt.use_vulkan_compute = False
        unknown = [t for t in _layer_types(param) if ncnn.layer_to_index(t) < 0]
        if unknown:
            conn.send(("error", f"ncnn has no layer type(s) {', '.join(unknown)}"))
            return
        if net.load_param(param) != 0 or net.load_model(weights) != 0:
            conn.send(("error", f"ncnn could not load {param}"))
            return
        conn.send(("ok", {"inputs": list(net.input_names()), "outputs": list(net.output_names())}))
    except Exception as exc:  # reported to the parent, which raises BackendError
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message[0] != "infer":
            return
        feeds: dict[str, Any] = message[1]
        try:
            start = time.perf_counter()
            extractor = net.create_extractor()
            # Keep the contiguous float32 arrays alive while the extractor reads them: a Mat
            # built from a temporary array points at freed memory (the "1e16 garbage" bug).
            arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in feeds.items()}
            for name, array in arrays.items():
                extractor.input(name, ncnn.Mat(array).clone())
            outputs = {}
            for name in net.output_names():
                code, mat = extractor.extract(name)
                if code != 0:
                    raise RuntimeError(f"extract({name}) returned {code}")
                outputs[name] = np.array(mat, dtype=np.float32, copy=True)
            del extractor
            conn.send(("ok", (outputs, time.perf_counter() - start)))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _layer_types(param: str) -> list[str]:
    """The distinct layer types named in an ncnn .param file."""
    types: list[str] = []
    with open(param, encoding="utf-8") as handle:
        lines = handle.read().splitlines()[2:]
    for line in lines:
        parts = line.split()
        if parts and parts[0] not in types:
            types.append(parts[0])
    return types


if __name__ == "__main__":
    main(sys.argv[1:])
