"""The minimal model that shows a runtime defect, its feeds, and for a refusal the control model
that differs only in what is refused."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx


@dataclasses.dataclass(frozen=True)
class Repro:
    """A model and feeds that show a defect; ``control`` (refusals): the nearest model the
    runtime still runs, so that a failure of ``model`` is the defect and not something else,
    fed ``control_feeds`` (default: ``feeds``)."""

    model: onnx.ModelProto
    feeds: dict[str, np.ndarray]
    control: onnx.ModelProto | None = None
    control_feeds: dict[str, np.ndarray] | None = None


def checked_model(graph: onnx.GraphProto, opset: int, ir_version: int = 8) -> onnx.ModelProto:
    """A repro's graph as a model of the default domain at ``opset``, validated by onnx."""
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    onnx.checker.check_model(model)
    return model
