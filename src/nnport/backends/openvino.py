"""OpenVINO (CPU) runner and the ONNX -> OpenVINO IR conversion, with the precision hint explicit."""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx_ir as ir

from nnport.backends.artifacts import nodes_running, onnx_file, staging_dir
from nnport.backends.base import Feeds, ModelSource, Runner
from nnport.errors import BackendError, BackendUnavailableError, UsageError
from nnport.model.external import has_external
from nnport.model.specs import TensorInfo

logger = logging.getLogger(__name__)

PRECISIONS = {"f32": "f32", "bf16": "bf16", "f16": "f16"}
_OV_TYPE_NAMES = {
    "float32": "f32",
    "f32": "f32",
    "bfloat16": "bf16",
    "bf16": "bf16",
    "float16": "f16",
    "f16": "f16",
}


# OpenVINO's converter modules that hold the telemetry module as ``tm``.
_OVC_TELEMETRY_USERS = (
    "openvino.tools.ovc",
    "openvino.tools.ovc.convert_impl",
    "openvino.tools.ovc.telemetry_utils",
    "openvino.tools.ovc.utils",
    "openvino.tools.ovc.main",
)


def import_openvino() -> Any:
    """``import openvino`` with OpenVINO's telemetry off for this process (nnport sends nothing).

    OpenVINO's converter sends usage events (and writes ``~/intel/`` and ``$TMPDIR/.ses``) on
    import and on every conversion unless the user opted out globally. The converter's own
    fallback for a missing ``openvino_telemetry`` package is its no-op ``telemetry_stub``: we
    make that package unimportable while OpenVINO loads, then point any converter module that
    already holds the real one at the stub. The user's consent file is left alone.
    """
    if "openvino.tools.ovc" not in sys.modules:
        saved = sys.modules.get("openvino_telemetry", _ABSENT)
        sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]  # ImportError
        try:
            import openvino
        except ImportError as exc:
            raise BackendUnavailableError(
                f"backend 'openvino' could not be imported: {exc}",
                hint="pip install 'nnport[openvino]'",
            ) from exc
        finally:
            if saved is _ABSENT:
                del sys.modules["openvino_telemetry"]
            else:
                sys.modules["openvino_telemetry"] = saved  # type: ignore[assignment]
    import openvino

    stub = importlib.import_module("openvino.tools.ovc.telemetry_stub")
    for name in _OVC_TELEMETRY_USERS:
        module = sys.modules.get(name)
        if module is not None and getattr(module, "tm", stub) is not stub:
            module.tm = stub  # type: ignore[attr-defined]
    return openvino


_ABSENT = object()


@contextlib.contextmanager
def _keep_root_logger() -> Iterator[None]:
    """Undo what ``ov.convert_model`` does to the root logger (level ERROR, a filter, a handler),
    which would otherwise silence every warning of the host program after the first conversion."""
    root = logging.getLogger()
    level, filters, handlers = root.level, list(root.filters), list(root.handlers)
    try:
        yield
    finally:
        root.setLevel(level)
        root.filters = filters
        root.handlers = handlers


def _read_model(source: ModelSource, input_shapes: dict[str, tuple[int, ...]] | None) -> Any:
    """An ``ov.Model`` from an in-memory model, an ONNX file or an OpenVINO IR ``.xml``."""
    ov = import_openvino()

    shapes = {k: list(v) for k, v in (input_shapes or {}).items()}
    try:
        with _keep_root_logger():
            return _convert(ov, source, shapes)
    except Exception as exc:
        raise BackendError(
            f"OpenVINO could not convert the model: {conversion_reason(exc, source)}"
        ) from exc


def _convert(ov: Any, source: ModelSource, shapes: dict[str, list[int]]) -> Any:
    model = _convert_as_is(ov, source)
    # Shapes are set on the converted model, not through convert_model(input=...): that
    # re-creates the inputs and loses the If/Loop branches' references to them by name
    # ("No node with name x" on a model whose subgraphs read a graph input).
    if shapes:
        model.reshape(shapes)
    return model


def _convert_as_is(ov: Any, source: ModelSource) -> Any:
    if isinstance(source, ir.Model):
        if has_external(source):  # from bytes OpenVINO would look for the data in the cwd
            with onnx_file(source) as path:
                return ov.convert_model(str(path))
        data = io.BytesIO(ir.serde.serialize_model(source).SerializeToString())
        return ov.convert_model(data)
    if Path(source).suffix == ".xml":
        return ov.Core().read_model(str(source))
    return ov.convert_model(str(source))


def conversion_reason(exc: BaseException, source: ModelSource | None = None) -> str:
    """The converter's complaint on one line, naming the rejected ops and their nodes."""
    text = str(exc)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith(("Check '", "File ", "Traceback"))]
    ops: list[str] = []
    for ln in lines:
        found = re.search(r"No conversion rule found for operations?:\s*(.+)$", ln)
        if found:
            ops += [op.strip() for op in found.group(1).split(",") if op.strip()]
    if ops:
        nodes = nodes_running(source, ops)
        where = f" at node(s) {', '.join(nodes)}" if nodes else ""
        return f"no conversion rule for op(s) {', '.join(ops)}{where}"
    interesting = [
        ln for ln in lines if re.search(r"not supported|unsupported|failed|error|cannot", ln, re.I)
    ]
    summary = " ".join(interesting[-1:] or lines[:1]) or type(exc).__name__
    return " ".join(summary.split())[:400]


def convert_to_openvino(
    model: ModelSource,
    out_dir: str | Path,
    *,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    name: str = "model",
) -> Path:
    """Convert ``model`` to OpenVINO IR (f32 weights) in ``out_dir``; return the ``.xml`` path.

    Written atomically: nothing appears in ``out_dir`` unless the conversion succeeds.
    """
    ov = import_openvino()

    out = Path(out_dir)
    ov_model = _read_model(model, input_shapes)
    with staging_dir(out) as tmp:
        try:
            ov.save_model(ov_model, str(tmp / f"{name}.xml"), compress_to_fp16=False)
        except Exception as exc:
            raise BackendError(f"OpenVINO could not save the IR: {exc}") from exc
    return out / f"{name}.xml"


def _precision_name(value: Any) -> str:
    text = str(getattr(value, "get_type_name", lambda: value)()).lower()
    return _OV_TYPE_NAMES.get(text, text)


class OpenVinoRunner(Runner):
    """Runs an ONNX model (converted in memory) or an OpenVINO IR on the CPU plugin.

    The CPU plugin may pick bf16 by itself on CPUs that have it, so the inference precision
    hint is always set explicitly and the effective value is read back into ``config()``.
    """

    name = "openvino"

    def __init__(
        self,
        model: ModelSource,
        *,
        precision: str = "f32",
        threads: int | None = None,
        device: str = "CPU",
        performance_mode: str = "LATENCY",
        input_shapes: dict[str, tuple[int, ...]] | None = None,
    ) -> None:
        super().__init__()
        if precision not in PRECISIONS:
            raise UsageError(
                f"unknown OpenVINO precision {precision!r}", hint="choose f32, bf16 or f16"
            )
        if performance_mode not in ("LATENCY", "THROUGHPUT"):
            raise UsageError("performance_mode must be LATENCY or THROUGHPUT")
        self._source = model
        self._precision = precision
        self._threads = threads
        self._device = device
        self._mode = performance_mode
        self._input_shapes = input_shapes
        self._compiled: Any = None
        self._request: Any = None
        self._outputs: list[str] = []
        self._inputs: list[str] = []
        self._config: dict[str, str] = {}

    def _activate(self) -> None:
        ov = import_openvino()

        ov_model = _read_model(self._source, self._input_shapes)
        properties: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": PRECISIONS[self._precision],
            "PERFORMANCE_HINT": self._mode,
        }
        if self._threads:
            properties["INFERENCE_NUM_THREADS"] = int(self._threads)
        try:
            self._compiled = ov.Core().compile_model(ov_model, self._device, properties)
        except Exception as exc:
            raise BackendError(
                f"OpenVINO could not compile the model: {conversion_reason(exc)}"
            ) from exc
        self._request = self._compiled.create_infer_request()
        onnx_io = _onnx_io(self._source)
        # Inputs are fed by port index under their ONNX names: OpenVINO drops inputs no output
        # depends on (CastLike's type-only input, an empty constant-shaped axes) and may give an
        # input port the output's name too (Max of one input), so feeding by name can fail.
        self._inputs = _input_names(self._compiled.inputs, onnx_io)
        self._outputs = [_port_name(o, set(onnx_io.outputs)) for o in self._compiled.outputs]
        self._config = self._read_config(ov.__version__)
        if self._config["precision"] != self._precision:
            logger.info(
                "OpenVINO %s runs with %s although %s was requested (not supported on this CPU)",
                self._device,
                self._config["precision"],
                self._precision,
            )

    def _read_config(self, version: str) -> dict[str, str]:
        def prop(name: str) -> str:
            try:
                return str(self._compiled.get_property(name))
            except Exception:  # a property this plugin does not expose
                return "n/a"

        effective = _precision_name(self._compiled.get_property("INFERENCE_PRECISION_HINT"))
        return {
            "runtime": f"openvino {version}",
            "device": self._device,
            "precision": effective,
            "requested_precision": self._precision,
            "execution_mode": prop("EXECUTION_MODE_HINT").replace("ExecutionMode.", ""),
            "performance_hint": prop("PERFORMANCE_HINT").replace("PerformanceMode.", ""),
            "threads": prop("INFERENCE_NUM_THREADS"),
        }

    def _deactivate(self) -> None:
        self._request = None
        self._compiled = None

    def input_specs(self) -> list[TensorInfo]:
        specs = []
        for name, port in zip(self._inputs, self._compiled.inputs, strict=True):
            pshape = port.get_partial_shape()
            dims = tuple(d.get_length() if d.is_static else None for d in pshape)
            dtype = np.dtype(port.get_element_type().to_dtype()).name
            specs.append(TensorInfo(name, dtype, dims, pshape.is_dynamic))
        return specs

    def output_names(self) -> list[str]:
        """Names of the model outputs, in graph order."""
        return list(self._outputs)

    def _infer(self, feeds: Feeds) -> dict[str, np.ndarray]:
        missing = [name for name in self._inputs if name not in feeds]
        if missing:
            raise BackendError(f"OpenVINO needs input(s) {', '.join(missing)}, which were not fed")
        # feeds the compiled model no longer has (inputs no output depends on) are not needed
        by_port = {i: feeds[name] for i, name in enumerate(self._inputs)}
        try:
            results = self._request.infer(by_port, share_inputs=True, share_outputs=True)
        except Exception as exc:
            raise BackendError(
                f"OpenVINO failed to run the model: {conversion_reason(exc)}"
            ) from exc
        # share_outputs avoids a copy inside OpenVINO; copy once here so results outlive the
        # next call, which reuses the output buffers.
        return {name: np.array(results[i]) for i, name in enumerate(self._outputs)}

    def config(self) -> dict[str, str]:
        if self._config:
            return dict(self._config)
        return {
            "runtime": "openvino",
            "device": self._device,
            "requested_precision": self._precision,
        }


@dataclass
class _OnnxIO:
    """What the runner needs of an ONNX source to name OpenVINO's ports (empty otherwise)."""

    inputs: list[str] = field(default_factory=list)  # graph inputs, initializers excluded
    outputs: list[str] = field(default_factory=list)
    sources: dict[str, set[str]] = field(default_factory=dict)  # output -> inputs it reads
    kinds: dict[str, tuple[int, str]] = field(default_factory=dict)  # input -> (rank, dtype)


def _onnx_io(source: ModelSource) -> _OnnxIO:
    """The ONNX graph's input and output names in graph order, the graph inputs each output
    depends on, and each input's rank and element type, when the source is an ONNX model."""
    if isinstance(source, ir.Model):
        graph = source.graph
        real = [v for v in graph.inputs if v.name and v.name not in graph.initializers]
        result = _OnnxIO([v.name or "" for v in real], [v.name for v in graph.outputs if v.name])
        result.kinds = {v.name or "": (len(v.shape) if v.shape is not None else -1,
                                       v.dtype.numpy().name if v.dtype is not None else "")
                        for v in real}  # fmt: skip
        nodes = [([v.name or "" if v else "" for v in n.inputs], [v.name or "" for v in n.outputs])
                 for n in graph]  # fmt: skip
    elif Path(source).suffix == ".onnx":
        from nnport.model.io import load_proto

        proto = load_proto(source).graph
        inits = {t.name for t in proto.initializer}
        result = _OnnxIO([i.name for i in proto.input if i.name not in inits],
                     [o.name for o in proto.output])  # fmt: skip
        nodes = [(list(n.input), list(n.output)) for n in proto.node]
    else:
        return _OnnxIO()
    depends: dict[str, set[str]] = {name: {name} for name in result.inputs}
    for node_inputs, node_outputs in nodes:  # graphs are stored in topological order
        reads = set().union(*(depends.get(name or "", set()) for name in node_inputs))
        depends.update({name: reads for name in node_outputs if name})
    result.sources = {name: depends.get(name, set()) for name in result.outputs}
    return result


def _input_names(ports: Any, onnx_io: _OnnxIO) -> list[str]:
    """The ONNX input name of each compiled input port: the one among its aliases; else, for a
    port named after a graph output (OpenVINO folds eval Dropout(x, ratio) away and names x's
    port y), the unmatched ONNX input of the port's rank and type that output reads; else the
    unmatched ONNX inputs in graph order (a port of Max(x) may carry only the output's name)."""
    names = [_port_name(port, set(onnx_io.inputs)) for port in ports]
    left = [n for n in onnx_io.inputs if n not in names]
    for i, (name, port) in enumerate(zip(names, ports, strict=True)):
        candidates = [n for n in left if n in onnx_io.sources.get(name, set())]
        if len(candidates) > 1:
            kind = (port.get_partial_shape().rank.get_length(),
                    np.dtype(port.get_element_type().to_dtype()).name)  # fmt: skip
            candidates = [n for n in candidates if onnx_io.kinds.get(n) == kind]
        if name not in onnx_io.inputs and len(candidates) == 1:
            names[i] = candidates[0]
            left.remove(candidates[0])
    unmatched = [i for i, n in enumerate(names) if n not in onnx_io.inputs]
    if onnx_io.inputs and len(unmatched) == len(left):
        for i, name in zip(unmatched, left, strict=True):
            names[i] = name
    return names


def _port_name(port: Any, preferred: set[str] | frozenset[str] = frozenset()) -> str:
    """The port's ONNX output name when it has one among its aliases, else any of its names."""
    try:
        names = set(port.get_names())
    except RuntimeError:
        names = set()
    for name in sorted(names & set(preferred)):
        return str(name)
    try:
        return str(port.get_any_name())
    except RuntimeError:
        return str(port.get_node().get_friendly_name())
