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
        if isinstance(source, ir.Model):
            source, folder = for_runtime(source)
            if folder is not None:  # bytes: external data is found beside the model, not in cwd
                options.add_session_config_entry(EXTERNAL_FOLDER, str(folder))
        try:
            self._session = ort.InferenceSession(
                model_bytes(source), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise BackendError(
                f"ONNX Runtime could not load the model: {_first_line(exc)}"
            ) from exc

    def _deactivate(self) -> None:
        self._session = None

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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return " ".join(text.splitlines()[0].split())[:400] if text else type(exc).__name__
