"""ncnn runner (in a worker process) and the ONNX -> pnnx -> ncnn param/bin conversion."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx_ir as ir

from nnport.backends.artifacts import nodes_running, staging_dir
from nnport.backends.base import Feeds, ModelSource, Runner
from nnport.errors import BackendError, UsageError, WorkerTimeoutError
from nnport.model.io import load, save
from nnport.model.specs import TensorInfo, graph_inputs, static_input_shapes

logger = logging.getLogger(__name__)

SIDECAR = "model.nnport.json"
_PNNX_TIMEOUT_S = 600
# Each call to the worker (load, one sample) must answer within BASE + PER_MIB x the weights'
# size; generous, so that only a hung worker reaches it. NNPORT_NCNN_TIMEOUT overrides it.
TIMEOUT_ENV = "NNPORT_NCNN_TIMEOUT"
_BASE_TIMEOUT_S = 120.0
_TIMEOUT_PER_MIB_S = 2.0


def worker_deadline(weights_bytes: int, timeout_s: float | str | None = None) -> float:
    """Seconds one worker call may take: ``timeout_s``, else $NNPORT_NCNN_TIMEOUT, else scaled
    by the size of the weights (120 s + 2 s per MiB)."""
    given = timeout_s if timeout_s is not None else os.environ.get(TIMEOUT_ENV)
    if given is not None and str(given).strip():
        try:
            seconds = float(given)
        except ValueError:
            seconds = -1.0
        if not seconds > 0:
            raise UsageError(
                f"ncnn worker timeout must be a positive number of seconds, not {given!r}",
                hint=f"set timeout=SECONDS as a backend option or {TIMEOUT_ENV}=SECONDS",
            )
        return seconds
    return _BASE_TIMEOUT_S + _TIMEOUT_PER_MIB_S * weights_bytes / 2**20


def _as_model(source: ModelSource) -> ir.Model:
    return source if isinstance(source, ir.Model) else load(source)


def _output_shapes(model: ir.Model, shapes: dict[str, tuple[int, ...]]) -> list[list[int] | None]:
    """Static output shapes under ``shapes``, from ONNX shape inference (None where unknown)."""
    proto = ir.serde.serialize_model(model)
    for value in proto.graph.input:
        if value.name in shapes:
            dims = value.type.tensor_type.shape.dim
            del dims[:]
            for size in shapes[value.name]:
                dims.add().dim_value = size
    try:
        inferred = onnx.shape_inference.infer_shapes(proto, data_prop=True)
    except Exception:  # shape inference is a help for reshaping outputs, not a requirement
        inferred = proto
    result: list[list[int] | None] = []
    for value in inferred.graph.output:
        dims = value.type.tensor_type.shape.dim
        if value.type.tensor_type.HasField("shape") and all(d.HasField("dim_value") for d in dims):
            result.append([d.dim_value for d in dims])
        else:
            result.append(None)
    return result


def _save_inline(model: ir.Model, path: Path) -> None:
    """Save with every weight inside the file (pnnx hands ONNX Runtime bytes, not a path):
    nnport's save writes external data inline below its 2 GB limit."""
    save(model, path)


def _pnnx_executable() -> str:
    try:
        import pnnx

        path = str(getattr(pnnx, "EXEC_PATH", "") or "")
    except ImportError:
        path = ""
    found = path if path and Path(path).is_file() else shutil.which("pnnx")
    if not found:
        from nnport.errors import BackendUnavailableError

        raise BackendUnavailableError(
            "converting to ncnn needs the 'pnnx' tool, which is not installed",
            hint="pip install 'nnport[ncnn]'",
        )
    return found


def _unknown_layers(param: Path) -> list[tuple[str, str]]:
    """(layer name, type) of layers in ``param`` that this ncnn build cannot create."""
    import ncnn

    bad = []
    for line in param.read_text(encoding="utf-8").splitlines()[2:]:
        parts = line.split()
        if len(parts) >= 2 and ncnn.layer_to_index(parts[0]) < 0:
            bad.append((parts[1], parts[0]))
    return bad


def convert_to_ncnn(
    model: ModelSource,
    out_dir: str | Path,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    *,
    fp16: bool = False,
) -> Path:
    """Convert ``model`` with pnnx into ``out_dir`` (model.ncnn.param/.bin); return the .param.

    pnnx needs concrete input shapes: dynamic inputs need ``input_shapes``. Weights are stored
    as f32 unless ``fp16``. A sidecar (model.nnport.json) maps ONNX input/output names to ncnn
    blobs. Written atomically: nothing appears in ``out_dir`` unless conversion succeeds.
    """
    ir_model = _as_model(model)
    shapes = static_input_shapes(ir_model, input_shapes)
    inputs = graph_inputs(ir_model)
    for value in inputs:
        # ncnn blobs have no batch axis: a dynamic batch is converted as 1, and the runner
        # runs a batch one sample at a time.
        name = value.name or ""
        if (
            value.shape is not None
            and len(value.shape) >= 2
            and not isinstance(value.shape[0], int)
        ):
            shapes[name] = (1, *shapes[name][1:])
    out = Path(out_dir)
    work = Path(tempfile.mkdtemp(prefix="nnport-pnnx-"))
    try:
        onnx_path = work / "model.onnx"
        _save_inline(ir_model, onnx_path)
        shape_arg = ",".join(
            "[" + ",".join(str(d) for d in shapes[v.name or ""]) + "]" + _pnnx_dtype(v)
            for v in inputs
        )
        command = [
            _pnnx_executable(),
            str(onnx_path),
            f"inputshape={shape_arg}",
            f"fp16={1 if fp16 else 0}",
            f"ncnnparam={work / 'model.ncnn.param'}",
            f"ncnnbin={work / 'model.ncnn.bin'}",
            f"ncnnpy={work / 'model_ncnn.py'}",
            f"pnnxparam={work / 'model.pnnx.param'}",
            f"pnnxbin={work / 'model.pnnx.bin'}",
            f"pnnxpy={work / 'model_pnnx.py'}",
            f"pnnxonnx={work / 'model.pnnx.onnx'}",
        ]
        logger.info("running %s", " ".join(command))
        try:
            proc = subprocess.run(
                command, cwd=work, capture_output=True, text=True, timeout=_PNNX_TIMEOUT_S
            )
        except subprocess.TimeoutExpired as exc:
            raise BackendError(f"pnnx did not finish within {_PNNX_TIMEOUT_S} s") from exc
        log = proc.stdout + proc.stderr
        param = work / "model.ncnn.param"
        if proc.returncode != 0 or not param.is_file():
            raise BackendError(
                f"pnnx could not convert the model: {_pnnx_reason(log, proc, ir_model)}"
            )
        bad = _unknown_layers(param)
        if bad:
            listed = ", ".join(f"{name!r} ({kind})" for name, kind in bad[:5])
            kinds = {_PNNX_TO_ONNX.get(kind, kind) for _, kind in bad}
            nodes = nodes_running(ir_model, sorted(kinds))
            where = f" from ONNX node(s) {', '.join(nodes)}" if nodes else ""
            raise BackendError(
                f"ncnn cannot run {len(bad)} layer(s) pnnx produced: {listed}{where}"
                + _ignored_ops(log),
                hint="rewrite those ops (nnport fix) or choose another backend",
            )
        sidecar = {
            "inputs": [
                {"name": v.name, "blob": f"in{i}", "shape": list(shapes[v.name or ""])}
                for i, v in enumerate(inputs)
            ],
            "outputs": [
                {"name": v.name, "blob": f"out{i}", "shape": shape}
                for i, (v, shape) in enumerate(
                    zip(ir_model.graph.outputs, _output_shapes(ir_model, shapes), strict=True)
                )
            ],
            "fp16_weights": fp16,
        }
        with staging_dir(out) as tmp:
            shutil.copy(work / "model.ncnn.bin", tmp / "model.ncnn.bin")
            (tmp / SIDECAR).write_text(json.dumps(sidecar, indent=2), encoding="utf-8")
            shutil.copy(param, tmp / "model.ncnn.param")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out / "model.ncnn.param"


# pnnx names some ops after the torch call it maps them to.
_PNNX_TO_ONNX = {"Tensor.to": "Cast", "Tensor.expand": "Expand", "Tensor.repeat": "Tile"}

_PNNX_DTYPES = {
    "FLOAT": "f32",
    "DOUBLE": "f64",
    "FLOAT16": "f16",
    "INT64": "i64",
    "INT32": "i32",
    "INT16": "i16",
    "INT8": "i8",
    "UINT8": "u8",
    "BOOL": "b",
}


def _pnnx_dtype(value: ir.Value) -> str:
    """pnnx's suffix for an input's element type (f32 when unknown)."""
    return _PNNX_DTYPES.get(value.dtype.name if value.dtype is not None else "FLOAT", "f32")


def _ignored_ops(log: str) -> str:
    ops = sorted(set(re.findall(r"^ignore (\S+)", log, re.MULTILINE)))
    return f"; pnnx ignored op(s) {', '.join(ops)}" if ops else ""


def _pnnx_reason(log: str, proc: subprocess.CompletedProcess[str], model: ir.Model) -> str:
    lines = [ln.strip() for ln in log.splitlines() if ln.strip() and not ln.startswith("#####")]
    bad = [
        ln for ln in lines if re.search(r"error|unsupported|not supported|fail|ignore", ln, re.I)
    ]
    text = "; ".join(bad[:3]) if bad else (lines[-1] if lines else f"exit code {proc.returncode}")
    ops = re.findall(r"(\w*):?(\w+)\(-?\d+\) is not a registered", log)
    nodes = nodes_running(model, [f"{d}.{op}" if d else op for d, op in ops])
    if nodes:
        text += f" (node(s) {', '.join(nodes)})"
    if proc.returncode < 0:
        text += f" (pnnx crashed with signal {-proc.returncode})"
    return " ".join(text.split())[:400]


class NcnnRunner(Runner):
    """Runs an ncnn model in a worker process (a native crash becomes a BackendError).

    Accepts an ONNX model (converted with pnnx on entry; dynamic inputs need
    ``input_shapes``) or a folder / ``.param`` written by ``convert_to_ncnn``. ncnn blobs have
    no batch axis, so a batch is run one sample at a time and stacked. Every call to the
    worker has a deadline (``timeout`` seconds, see ``worker_deadline``): a worker that does not
    answer in time is killed and the call raises ``WorkerTimeoutError``.
    """

    name = "ncnn"

    def __init__(
        self,
        model: ModelSource,
        *,
        threads: int | None = None,
        precision: str = "f32",
        input_shapes: dict[str, tuple[int, ...]] | None = None,
        timeout: float | str | None = None,
    ) -> None:
        super().__init__()
        if precision not in ("f32", "f16"):
            raise UsageError(f"unknown ncnn precision {precision!r}", hint="choose f32 or f16")
        worker_deadline(0, timeout)  # a bad value is a usage error before any work
        self._timeout = timeout
        self.deadline_s = 0.0
        self._source = model
        self._threads = threads
        self._precision = precision
        self._input_shapes = input_shapes
        self._tmp: Path | None = None
        self._meta: dict[str, Any] = {}
        self._process: Any = None
        self._conn: Any = None
        self.worker_time = 0.0

    def _artifact(self) -> Path:
        source = self._source
        if not isinstance(source, ir.Model):
            path = Path(source)
            if path.is_dir():
                return path / "model.ncnn.param"
            if path.suffix == ".param":
                return path
        self._tmp = Path(tempfile.mkdtemp(prefix="nnport-ncnn-"))
        return convert_to_ncnn(
            source, self._tmp / "ncnn", self._input_shapes, fp16=self._precision == "f16"
        )

    def _activate(self) -> None:
        param = self._artifact()
        sidecar = param.parent / SIDECAR
        if not param.is_file() or not sidecar.is_file():
            raise BackendError(f"{param.parent} is not an ncnn folder written by nnport convert")
        self._meta = json.loads(sidecar.read_text(encoding="utf-8"))
        weights = param.with_suffix(".bin")
        size = weights.stat().st_size if weights.is_file() else 0
        self.deadline_s = worker_deadline(size, self._timeout)
        options = json.dumps({"threads": self._threads, "precision": self._precision})
        # A fresh interpreter (not fork: the parent may hold threads and runtimes).
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nnport.backends._ncnn_worker",
                str(param),
                str(param.with_suffix(".bin")),
                options,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._conn = _PipeConnection(self._process)
        self._call(None, "loading the model")

    def _call(self, message: Any, doing: str) -> Any:
        """Send ``message`` (None: only wait for the reply) and return the reply's payload.

        The exchange runs in a helper thread so that a worker that stops answering (hung,
        stopped, or not reading its pipe) costs at most the deadline: then it is killed, which
        closes its pipes and ends the helper thread too.
        """
        reply: list[Any] = []
        failure: list[BaseException] = []

        def exchange() -> None:
            try:
                if message is not None:
                    with contextlib.suppress(OSError):  # a dead worker: recv says how it ended
                        self._conn.send(message)
                reply.append(self._conn.recv())
            except BaseException as exc:  # handed to the caller's thread
                failure.append(exc)

        helper = threading.Thread(target=exchange, name="nnport-ncnn-call", daemon=True)
        helper.start()
        helper.join(self.deadline_s)
        if helper.is_alive():
            self._process.kill()
            self._process.wait()
            helper.join(5)
            raise WorkerTimeoutError(
                f"the ncnn worker did not answer within {self.deadline_s:.0f} s while {doing}; "
                "it was stopped",
                hint=f"if the model is just slow, raise the deadline (backend option "
                f"timeout=SECONDS or {TIMEOUT_ENV}=SECONDS)",
            )
        if failure:
            exc = failure[0]
            if not isinstance(exc, (EOFError, OSError)):
                raise exc
            code = self._process.wait(timeout=10)
            raise BackendError(
                f"the ncnn worker crashed while {doing} (exit code {code})",
                hint="the model likely uses an op ncnn mishandles; try nnport compare --bisect",
            ) from exc
        status, payload = reply[0]
        if status != "ok":
            raise BackendError(f"ncnn failed while {doing}: {payload}")
        return payload

    def _deactivate(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError, ValueError):
                self._conn.send(("stop",))
            self._conn.close()
        if self._process is not None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._conn = self._process = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def input_specs(self) -> list[TensorInfo]:
        return [
            TensorInfo(i["name"], "float32", tuple(i["shape"]), False) for i in self._meta["inputs"]
        ]

    def output_names(self) -> list[str]:
        """Names of the model outputs, in graph order."""
        return [o["name"] for o in self._meta["outputs"]]

    def _infer(self, feeds: Feeds) -> dict[str, np.ndarray]:
        inputs = self._meta["inputs"]
        missing = [i["name"] for i in inputs if i["name"] not in feeds]
        if missing:
            raise BackendError(f"ncnn: missing input(s) {', '.join(missing)}")
        batch = {np.shape(feeds[i["name"]])[0] if np.ndim(feeds[i["name"]]) else 1 for i in inputs}
        per_sample = all(i["shape"] and i["shape"][0] == 1 for i in inputs) and len(batch) == 1
        runs = batch.pop() if per_sample else 1
        pieces: dict[str, list[np.ndarray]] = {}
        self.worker_time = 0.0
        for index in range(runs):
            request = {
                i["blob"]: (
                    np.asarray(feeds[i["name"]])[index]
                    if per_sample
                    else np.asarray(feeds[i["name"]])
                )
                for i in inputs
            }
            outputs, seconds = self._call(("infer", request), "running the model")
            self.worker_time += seconds
            for out in self._meta["outputs"]:
                pieces.setdefault(out["name"], []).append(outputs[out["blob"]])
        return {
            out["name"]: _restore(pieces[out["name"]], out["shape"], per_sample)
            for out in self._meta["outputs"]
        }

    def config(self) -> dict[str, str]:
        import ncnn

        return {
            "runtime": f"ncnn {ncnn.__version__}",
            "precision": self._precision,
            "fp16_weights": str(self._meta.get("fp16_weights", "unknown")).lower(),
            "threads": str(self._threads or len(os.sched_getaffinity(0))),
            "openmp_blocktime": "0",
            "isolation": "worker process",
            "worker_timeout_s": f"{self.deadline_s:.0f}",
        }


class _PipeConnection:
    """Pickled messages over a worker's stdin/stdout pipes."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdin is not None and process.stdout is not None
        self._writer = Connection(os.dup(process.stdin.fileno()), readable=False)
        self._reader = Connection(os.dup(process.stdout.fileno()), writable=False)
        process.stdin.close()
        process.stdout.close()

    def send(self, obj: Any) -> None:
        self._writer.send(obj)

    def recv(self) -> Any:
        return self._reader.recv()

    def close(self) -> None:
        self._writer.close()
        self._reader.close()


def _restore(parts: list[np.ndarray], shape: list[int] | None, per_sample: bool) -> np.ndarray:
    """Put back the batch axis ncnn drops, and the expected shape where it is known."""
    if shape == [] and len(parts) == 1 and parts[0].size == 1:
        return parts[0].reshape(())  # a scalar: no batch axis to put back
    if per_sample:
        sample_shape = tuple(shape[1:]) if shape else None
        fixed = [
            p.reshape(sample_shape)
            if sample_shape is not None and p.size == int(np.prod(sample_shape))
            else p
            for p in parts
        ]
        return np.stack(fixed)
    (only,) = parts
    if shape and only.size == int(np.prod(shape)):
        return only.reshape(shape)
    return only
