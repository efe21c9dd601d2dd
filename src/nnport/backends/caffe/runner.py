"""The ``caffe`` runner: nnport's Caffe model run by OpenCV's DNN Caffe importer (not nnport's code)."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx_ir as ir

from nnport.backends.base import Feeds, ModelSource, Runner
from nnport.backends.caffe.convert import CAFFEMODEL, PROTOTXT, build_net, write_caffe
from nnport.errors import BackendError, UsageError
from nnport.model.specs import TensorInfo, describe_value

logger = logging.getLogger(__name__)


def opencv_version() -> str:
    """OpenCV's version, or a one-line error naming the extra that installs it."""
    import cv2

    return str(cv2.__version__)


class CaffeRunner(Runner):
    """Converts an ONNX model to Caffe (as ``convert --to caffe`` does) and runs it in OpenCV.

    A ``.prototxt`` path runs as it is (its ``.caffemodel`` beside it). Outputs come back under
    the ONNX output names; a model whose input shapes are dynamic is converted at the first
    inference, with the shapes of the feeds.
    """

    name = "caffe"

    def __init__(
        self,
        model: ModelSource,
        *,
        input_shapes: dict[str, tuple[int, ...]] | None = None,
        threads: int | None = None,
    ) -> None:
        super().__init__()
        self._source = model
        self._shapes = dict(input_shapes or {})
        self._threads = threads
        self._net: Any = None
        self._model: ir.Model | None = None
        self._outputs: dict[str, str] = {}
        self._expected: dict[str, tuple[int, ...]] = {}
        self._inputs: list[str] = []
        self._work: Path | None = None

    def _activate(self) -> None:
        import cv2

        if self._threads:
            cv2.setNumThreads(int(self._threads))
        source = self._source
        if isinstance(source, (str, Path)) and Path(source).suffix == ".prototxt":
            self._load_caffe(Path(source), Path(source).with_suffix(".caffemodel"), None)
            return
        self._model = source if isinstance(source, ir.Model) else ir.load(str(source))
        self._inputs = [v.name or "" for v in self._model.graph.inputs
                        if v.name not in self._model.graph.initializers]  # fmt: skip
        if all(self._static(v) for v in self._model.graph.inputs):
            self._convert(self._shapes)

    def _static(self, value: ir.Value) -> bool:
        if value.name in self._shapes:
            return True
        return value.shape is not None and all(isinstance(d, int) for d in value.shape)

    def _convert(self, shapes: dict[str, tuple[int, ...]]) -> None:
        assert self._model is not None
        result = build_net(self._model, shapes or None)
        self._work = Path(tempfile.mkdtemp(prefix="nnport-caffe-"))
        write_caffe(result, self._work / "net")
        self._expected = {}
        for value in self._model.graph.outputs:
            shape = value.shape
            if shape is not None and all(isinstance(d, int) for d in shape):
                self._expected[value.name or ""] = tuple(int(d) for d in shape)  # type: ignore[arg-type]
        self._load_caffe(
            self._work / "net" / PROTOTXT, self._work / "net" / CAFFEMODEL, result.outputs
        )

    def _load_caffe(self, prototxt: Path, weights: Path, outputs: dict[str, str] | None) -> None:
        import cv2

        try:
            self._net = cv2.dnn.readNetFromCaffe(str(prototxt), str(weights))
        except cv2.error as exc:
            raise BackendError(
                f"OpenCV could not load the Caffe model: {' '.join(str(exc).split())[:300]}"
            ) from exc
        self._net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        self._net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        if outputs is None:
            names = list(self._net.getUnconnectedOutLayersNames())
            outputs = {n: n for n in names}
            if not self._inputs:
                self._inputs = _prototxt_inputs(prototxt)
        self._outputs = outputs

    def _deactivate(self) -> None:
        self._net = None
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
            self._work = None

    def input_specs(self) -> list[TensorInfo]:
        if self._model is not None:
            graph = self._model.graph
            specs = [describe_value(v) for v in graph.inputs if v.name not in graph.initializers]
            return [
                TensorInfo(s.name, s.dtype, self._shapes[s.name], False)
                if s.name in self._shapes else s
                for s in specs
            ]  # fmt: skip
        return [TensorInfo(name, "float32", None, True) for name in self._inputs]

    def _infer(self, feeds: Feeds) -> dict[str, np.ndarray]:
        import cv2

        missing = [name for name in self._inputs if name not in feeds]
        if missing:
            raise UsageError(f"missing input(s) {', '.join(missing)} for the caffe backend")
        if self._net is None:  # dynamic inputs: convert for the shapes fed
            self._convert({name: tuple(np.shape(feeds[name])) for name in self._inputs})
        for name in self._inputs:
            self._net.setInput(np.ascontiguousarray(feeds[name], dtype=np.float32), name)
        names = list(self._outputs)
        try:
            arrays = self._net.forward([self._outputs[n] for n in names])
        except cv2.error as exc:
            raise BackendError(
                f"OpenCV failed to run the Caffe model: {' '.join(str(exc).split())[:300]}"
            ) from exc
        result = {}
        for name, array in zip(names, arrays, strict=True):
            expected = self._expected.get(name)
            if expected is not None and array.shape != expected and array.size == np.prod(expected):
                array = array.reshape(expected)  # OpenCV may drop or add unit axes
            result[name] = np.asarray(array)
        return result

    def config(self) -> dict[str, str]:
        import cv2

        return {
            "runtime": f"opencv {cv2.__version__} (dnn Caffe importer)",
            "converter": "nnport ONNX -> Caffe",
            "threads": str(cv2.getNumThreads()),
        }


def _prototxt_inputs(path: Path) -> list[str]:
    from google.protobuf import text_format

    from nnport.backends.caffe import nnport_caffe_pb2 as pb

    net = pb.NetParameter()
    text_format.Parse(path.read_text(encoding="utf-8"), net, allow_unknown_field=True)
    names = list(net.input)
    names += [top for layer in net.layer if layer.type == "Input" for top in layer.top]
    return names
