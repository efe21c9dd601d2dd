"""PyTorch runner: a torch.nn.Module (object, or ``module:factory`` plus a weights file)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nnport.backends.base import Feeds, Runner
from nnport.errors import BackendError, UsageError
from nnport.model.specs import TensorInfo


def load_module(spec: str, weights: str | Path | None = None) -> Any:
    """Build ``pkg.module:factory`` (called without arguments) and load a state dict into it."""
    import torch

    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"torch module {spec!r} must look like 'package.module:factory'")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"cannot import {spec!r}: {exc}") from exc
    module = factory()
    if not isinstance(module, torch.nn.Module):
        raise UsageError(f"{spec!r} returned {type(module).__name__}, not a torch.nn.Module")
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise UsageError(f"no such weights file: {path}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for files that are not checkpoints
            first = " ".join(str(exc).split())[:200]
            raise UsageError(f"{path} is not a readable torch state dict: {first}") from exc
        if isinstance(state, Mapping) and "state_dict" in state:
            state = state["state_dict"]
        try:
            module.load_state_dict(state)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise UsageError(f"weights {path} do not fit {spec!r}: {first}") from exc
    return module


class TorchRunner(Runner):
    """Runs a torch.nn.Module in eval mode under ``torch.inference_mode`` on the CPU.

    Inputs are passed positionally in ``input_names`` order (the names of the ONNX export);
    outputs (a tensor, a tuple/list or a dict of tensors) are named by ``output_names``.
    """

    name = "torch"

    def __init__(
        self,
        model: Any,
        *,
        weights: str | Path | None = None,
        input_names: Sequence[str] | None = None,
        output_names: Sequence[str] | None = None,
        input_shapes: Mapping[str, tuple[int, ...]] | None = None,
        threads: int | None = None,
    ) -> None:
        super().__init__()
        self._spec = model
        self._weights = weights
        self._input_names = list(input_names or [])
        self._output_names = list(output_names or [])
        self._input_shapes = dict(input_shapes or {})
        self._threads = threads
        self._module: Any = None

    def _activate(self) -> None:
        import torch

        module = (
            load_module(self._spec, self._weights) if isinstance(self._spec, str) else self._spec
        )
        if not isinstance(module, torch.nn.Module):
            raise UsageError("the torch backend needs a torch.nn.Module or 'module:factory'")
        if self._threads:
            torch.set_num_threads(self._threads)
        self._module = module.eval()

    def _deactivate(self) -> None:
        self._module = None

    def input_specs(self) -> list[TensorInfo]:
        names = self._input_names or list(self._input_shapes)
        return [
            TensorInfo(n, "float32", self._input_shapes.get(n), n not in self._input_shapes)
            for n in names
        ]

    def output_names(self) -> list[str]:
        """The names given to the module's outputs (empty when they come from the call)."""
        return list(self._output_names)

    def _infer(self, feeds: Feeds) -> dict[str, np.ndarray]:
        import torch

        names = self._input_names or list(feeds)
        missing = [n for n in names if n not in feeds]
        if missing:
            raise BackendError(f"torch: missing input(s) {', '.join(missing)}")
        args = [torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in names]
        try:
            with torch.inference_mode():
                result = self._module(*args)
        except Exception as exc:
            raise BackendError(
                f"the torch module failed: {' '.join(str(exc).split())[:300]}"
            ) from exc
        if isinstance(result, Mapping):
            values = list(result.values())
            keys = [str(k) for k in result]
        else:
            values = list(result) if isinstance(result, (tuple, list)) else [result]
            keys = [f"output{i}" for i in range(len(values))]
        names_out = self._output_names or keys
        if len(names_out) != len(values):
            raise BackendError(
                f"the torch module returned {len(values)} outputs, expected {len(names_out)}"
            )
        return {n: v.detach().cpu().numpy() for n, v in zip(names_out, values, strict=True)}

    def config(self) -> dict[str, str]:
        import torch

        return {
            "runtime": f"torch {torch.__version__}",
            "module": self._spec if isinstance(self._spec, str) else type(self._spec).__name__,
            "threads": str(self._threads or torch.get_num_threads()),
        }
