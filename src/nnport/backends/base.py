"""The one runner interface every runtime implements, and the model-source type runners accept."""

from __future__ import annotations

import abc
import contextlib
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np
import onnx_ir as ir

from nnport.model.specs import TensorInfo

# A runner accepts an in-memory onnx-ir model or a path to an ONNX file or a runtime artifact.
ModelSource = ir.Model | str | Path

Feeds = Mapping[str, np.ndarray]


class Runner(abc.ABC):
    """Load a model into a runtime (``with runner:``) and run it on named numpy inputs."""

    name: str = "runner"

    def __init__(self) -> None:
        self.last_inference_time: float = 0.0
        self._active = False

    @abc.abstractmethod
    def _activate(self) -> None:
        """Load the model into the runtime."""

    def _deactivate(self) -> None:  # noqa: B027 - optional hook
        """Release runtime resources."""

    @abc.abstractmethod
    def input_specs(self) -> list[TensorInfo]:
        """The inputs the loaded model expects."""

    @abc.abstractmethod
    def _infer(self, feeds: Feeds) -> dict[str, np.ndarray]:
        """Run one inference (the runner is active)."""

    def config(self) -> dict[str, str]:
        """The effective runtime configuration, recorded in every result."""
        return {}

    def infer(self, feeds: Feeds) -> dict[str, np.ndarray]:
        """Run one inference and record its wall time in ``last_inference_time``."""
        if not self._active:
            raise RuntimeError(f"{self.name} runner used outside its 'with' block")
        start = time.perf_counter()
        outputs = self._infer(feeds)
        self.last_inference_time = time.perf_counter() - start
        return outputs

    def __enter__(self) -> Self:
        try:
            self._activate()
        except BaseException:
            # A failed start leaves nothing behind (temporary folders, worker processes).
            with contextlib.suppress(Exception):
                self._deactivate()
            raise
        self._active = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._active = False
        self._deactivate()


def model_bytes(source: ModelSource) -> bytes | str:
    """Serialized ONNX bytes for an in-memory model, or the path string for a file."""
    if isinstance(source, ir.Model):
        return ir.serde.serialize_model(source).SerializeToString()
    return str(source)
