"""Runtimes behind one Runner interface; each runtime is imported lazily inside its module."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from nnport.backends.base import Feeds, ModelSource, Runner
from nnport.errors import BackendUnavailableError, UsageError

# name -> (module, class, python package that must be importable, extra that installs it).
# A plain table, in the order `--help` lists them; no registration by import side effects.
BACKENDS: dict[str, tuple[str, str, str, str]] = {
    "onnxruntime": ("nnport.backends.onnxruntime", "OnnxRuntimeRunner", "onnxruntime", ""),
    "openvino": ("nnport.backends.openvino", "OpenVinoRunner", "openvino", "openvino"),
    "ncnn": ("nnport.backends.ncnn", "NcnnRunner", "ncnn", "ncnn"),
    "torch": ("nnport.backends.torch", "TorchRunner", "torch", "torch"),
    "caffe": ("nnport.backends.caffe.runner", "CaffeRunner", "cv2", "caffe"),
    "reference": ("nnport.backends.reference", "ReferenceRunner", "onnx", ""),
}


def available_backends() -> list[str]:
    """Names of every backend nnport knows (installed or not)."""
    return list(BACKENDS)


def runner_class(name: str) -> type[Runner]:
    """The Runner class for ``name``; clear errors for unknown or uninstalled runtimes."""
    if name not in BACKENDS:
        raise UsageError(f"unknown backend {name!r}", hint=f"choose from {', '.join(BACKENDS)}")
    module_name, class_name, package, extra = BACKENDS[name]
    try:
        # Found, not imported: a runtime is imported by its own module (OpenVINO's telemetry
        # must be off before it loads).
        if importlib.util.find_spec(package) is None:
            raise ImportError(f"No module named {package!r}")
    except (ImportError, ValueError) as exc:
        install = f"pip install 'nnport[{extra}]'" if extra else f"pip install {package}"
        raise BackendUnavailableError(
            f"backend {name!r} needs the {package!r} package, which is not installed",
            hint=install,
        ) from exc
    module = importlib.import_module(module_name)
    cls: type[Runner] = getattr(module, class_name)
    return cls


def make_runner(name: str, model: ModelSource, **options: Any) -> Runner:
    """Instantiate the runner ``name`` for ``model`` with backend-specific options."""
    return runner_class(name)(model, **options)  # type: ignore[call-arg]


__all__ = ["BACKENDS", "Feeds", "ModelSource", "Runner", "available_backends", "make_runner"]
