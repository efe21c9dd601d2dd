"""ONNX Runtime runner: an in-memory model reaches the runtime without a serialized copy of its weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx_ir as ir

from nnport.backends import make_runner
from nnport.model import load
from nnport.verify.inputs import generate_inputs


def test_in_memory_weights_reach_onnxruntime_as_arrays(resnet18_export: Path) -> None:
    """The model's bytes hold the graph, not the weights (a compare of ViT-B/16 peaked at 3.8x
    the two models when each runner serialized every weight twice); the outputs are those of
    the model loaded from its file, and the caller's model is left as it was."""
    model = load(resnet18_export)
    before = ir.serde.serialize_model(model).SerializeToString()
    (feed,) = generate_inputs(model, seed=2)
    with make_runner("onnxruntime", str(resnet18_export)) as from_file:
        expected = from_file.infer(feed)["logits"]
    with make_runner("onnxruntime", model) as runner:
        got = runner.infer(feed)["logits"]
        shared = runner._weights  # the OrtValues the session reads
        weights = sum(v.const_value.nbytes for v in model.graph.initializers.values())
        assert sum(v.numpy().nbytes for v in shared.values()) > 0.99 * weights
    np.testing.assert_array_equal(got, expected)
    assert ir.serde.serialize_model(model).SerializeToString() == before


def test_graph_bytes_leave_the_weights_out(resnet18_export: Path) -> None:
    import onnxruntime as ort

    from nnport.backends.onnxruntime import _graph_and_weights

    model = load(resnet18_export)
    data, weights = _graph_and_weights(ort, model)
    assert len(data) < 0.01 * resnet18_export.stat().st_size
    assert set(weights) <= set(model.graph.initializers)
