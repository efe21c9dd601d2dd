"""ONNX reference evaluator runner: slow, pure numpy, the golden for small graphs."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnx_ir as ir

from nnport.backends.base import Feeds, ModelSource, Runner
from nnport.errors import BackendError
from nnport.model.external import inline_external
from nnport.model.io import load
from nnport.model.specs import TensorInfo, describe_value, graph_inputs


class ReferenceRunner(Runner):
    """Runs a model with ``onnx.reference.ReferenceEvaluator`` (no optimizations, no fusions)."""

    name = "reference"

    def __init__(self, model: ModelSource) -> None:
        super().__init__()
        self._source = model
        self._evaluator: Any = None
        self._model: ir.Model | None = None
        self._outputs: list[str] = []

    def _activate(self) -> None:
        from onnx.reference import ReferenceEvaluator

        source = self._source
        self._model = source if isinstance(source, ir.Model) else load(source)
        proto = ir.serde.serialize_model(inline_external(self._model))  # it reads no files
        try:
            self._evaluator = ReferenceEvaluator(proto)
        except Exception as exc:
            raise BackendError(
                f"the ONNX reference evaluator cannot load the model: {exc}"
            ) from exc
        self._outputs = [o.name for o in proto.graph.output]

    def _deactivate(self) -> None:
        self._evaluator = None

    def input_specs(self) -> list[TensorInfo]:
        assert self._model is not None
        return [describe_value(v) for v in graph_inputs(self._model)]

    def output_names(self) -> list[str]:
        """Names of the model outputs, in graph order."""
        return list(self._outputs)

    def _infer(self, feeds: Feeds) -> dict[str, np.ndarray]:
        try:
            values = self._evaluator.run(None, dict(feeds))
        except Exception as exc:
            text = " ".join(str(exc).split())[:300]
            raise BackendError(f"the ONNX reference evaluator failed: {text}") from exc
        return {name: np.asarray(v) for name, v in zip(self._outputs, values, strict=True)}

    def config(self) -> dict[str, str]:
        return {"runtime": f"onnx.reference {onnx.__version__}"}
