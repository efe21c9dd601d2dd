"""ONNX Runtime (CPU) runner: the default reference backend."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import onnx_ir as ir

from nnport.backends.base import Feeds, ModelSource, Runner, model_bytes
from nnport.errors import BackendError
from nnport.model.external import for_runtime
from nnport.model.specs import TensorInfo

_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int16)": "int16",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(uint16)": "uint16",
    "tensor(uint32)": "uint32",
    "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
    "tensor(string)": "string",
    "tensor(bfloat16)": "bfloat16",
}

# Where ONNX Runtime resolves external data of a model given as bytes (default: the cwd).
EXTERNAL_FOLDER = "session.model_external_initializers_file_folder_path"

_LEVELS = {"disable": 0, "basic": 1, "extended": 2, "all": 99}


class OnnxRuntimeRunner(Runner):
    """Runs a model with ONNX Runtime's CPU execution provider."""

    name = "onnxruntime"

    def __init__(
        self,
        model: ModelSource,
        *,
        threads: int | None = None,
        optimization: str = "all",
    ) -> None:
        super().__init__()
        if optimization not in _LEVELS:
            raise ValueError(f"optimization must be one of {sorted(_LEVELS)}")
        self._source = model
        self._threads = threads
        self._optimization = optimization
        self._session: Any = None
        self._weights: dict[str, Any] = {}  # OrtValues the session reads: alive while it is

    def _activate(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel(
            {0: 0, 1: 1, 2: 2, 99: 99}[_LEVELS[self._optimization]]
        )
        # ORT prints failures on fd 2 itself (they also come back as exceptions): only when
        # the command line asks for native logs (--verbose sets NNPORT_NATIVE_LOGS=1).
        options.log_severity_level = 2 if os.environ.get("NNPORT_NATIVE_LOGS") == "1" else 4
        if self._threads:
            options.intra_op_num_threads = self._threads
            options.inter_op_num_threads = 1
        source = self._source
        data: bytes | str
        if isinstance(source, ir.Model):
            source, folder = for_runtime(source)
            if folder is not None:  # bytes: external data is found beside the model, not in cwd
                options.add_session_config_entry(EXTERNAL_FOLDER, str(folder))
                data = model_bytes(source)
            else:
                data, self._weights = _graph_and_weights(ort, source)
                if self._weights:
                    names, values = zip(*self._weights.items(), strict=True)
                    options.add_external_initializers(list(names), list(values))
        else:
            data = model_bytes(source)
        try:
            self._session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise BackendError(
                f"ONNX Runtime could not load the model: {_first_line(exc)}"
            ) from exc

    def _deactivate(self) -> None:
        self._session = None
        self._weights = {}

    def input_specs(self) -> list[TensorInfo]:
        specs = []
        for arg in self._session.get_inputs():
            shape = tuple(d if isinstance(d, int) else (d or None) for d in arg.shape)
            dynamic = not all(isinstance(d, int) for d in shape)
            specs.append(TensorInfo(arg.name, _ORT_TYPES.get(arg.type, arg.type), shape, dynamic))
        return specs

    def output_names(self) -> list[str]:
        """Names of the model outputs, in graph order."""
        return [o.name for o in self._session.get_outputs()]

    def _infer(self, feeds: Feeds) -> dict[str, np.ndarray]:
        names = self.output_names()
        try:
            values = self._session.run(names, dict(feeds))
        except Exception as exc:
            raise BackendError(f"ONNX Runtime failed to run the model: {_first_line(exc)}") from exc
        return dict(zip(names, values, strict=True))

    def config(self) -> dict[str, str]:
        import onnxruntime as ort

        return {
            "runtime": f"onnxruntime {ort.__version__}",
            "provider": "CPUExecutionProvider",
            "optimization": self._optimization,
            "threads": str(self._threads or "default"),
        }


# Initializers at least this large reach ONNX Runtime as arrays, not inside the model's bytes.
_SHARED_BYTES = 1024
# Types whose numpy arrays ONNX Runtime takes as they are (not 4-bit, float8, bfloat16, string).
_NUMPY_PLAIN = frozenset(
    getattr(ir.DataType, name)
    for name in (
        "FLOAT", "FLOAT16", "DOUBLE", "INT8", "INT16", "INT32", "INT64",
        "UINT8", "UINT16", "UINT32", "UINT64", "BOOL",
    )
)  # fmt: skip


def _graph_and_weights(ort: Any, model: ir.Model) -> tuple[bytes, dict[str, Any]]:
    """The model's bytes without its large initializers, and those as OrtValues.

    Serializing a whole model copies every weight twice (the protobuf, then its bytes) before
    ONNX Runtime parses a third copy: on ViT-B/16 a compare peaked at 3.8x the two models.
    Here the weights are stubbed as external data while the graph is serialized (restored
    right after) and handed over with ``add_external_initializers``, which replaces the stubs
    before anything reads them. Subgraph initializers stay in the bytes.
    """
    large = [
        value
        for value in model.graph.initializers.values()
        if value.const_value is not None
        and value.const_value.nbytes >= _SHARED_BYTES
        and value.const_value.dtype in _NUMPY_PLAIN
    ]
    if not large:
        return ir.serde.serialize_model(model).SerializeToString(), {}
    weights = {
        value.name or "": ort.OrtValue.ortvalue_from_numpy(
            np.ascontiguousarray(value.const_value.numpy())  # type: ignore[union-attr]
        )
        for value in large
    }
    saved = {value.name: value.const_value for value in large}
    try:
        for value in large:
            tensor = saved[value.name]
            assert tensor is not None
            value.const_value = ir.ExternalTensor(
                "nnport-in-memory", offset=0, length=tensor.nbytes, dtype=tensor.dtype,
                shape=ir.Shape(tuple(tensor.shape.numpy())), name=value.name or "", base_dir="",
            )  # fmt: skip
        data = ir.serde.serialize_model(model).SerializeToString()
    finally:
        for value in large:
            value.const_value = saved[value.name]
    return data, weights


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return " ".join(text.splitlines()[0].split())[:400] if text else type(exc).__name__
