"""Run a model before and after a rewrite on the same inputs and measure what the rewrite changed."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import onnx_ir as ir

from nnport.errors import BackendError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Drift:
    """How far one model's outputs moved from another's on the same feeds."""

    max_abs: float
    ok: bool
    reason: str
    engine: str


def adapt_feeds(model: ir.Model, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Cast each feed to the dtype ``model`` declares (a rewritten model may take int32, float)."""
    out: dict[str, np.ndarray] = {}
    for value in model.graph.inputs:
        name = value.name or ""
        if name not in feed:
            continue
        array = np.asarray(feed[name])
        if value.dtype is not None:
            array = array.astype(value.dtype.numpy(), copy=False)
        out[name] = array
    return out


# Initializers above this size travel to the runtime as feeds, not inside the serialized graph:
# serializing 100 MB of weights per verification run costs more than the run itself.
WEIGHT_FEED_BYTES = 1024


class WeightCache:
    """numpy views of weight tensors, shared by every verification run of one fix (clones of a
    model share their tensor objects, so a tensor is converted once, not once per run)."""

    def __init__(self) -> None:
        self._arrays: dict[int, tuple[object, np.ndarray]] = {}

    def array(self, tensor: ir.TensorProtocol) -> np.ndarray:
        """The numpy array of ``tensor`` (the tensor is kept alive so its id stays unique)."""
        hit = self._arrays.get(id(tensor))
        if hit is None or hit[0] is not tensor:
            hit = (tensor, tensor.numpy())
            self._arrays[id(tensor)] = hit
        return hit[1]


def weightless_clone(model: ir.Model) -> tuple[ir.Model, dict[str, ir.TensorProtocol]]:
    """A clone whose large main-graph initializers are typed graph inputs, and those tensors
    (nothing is converted or copied: serializing the clone skips the weights)."""
    light = model.clone()
    weights: dict[str, ir.TensorProtocol] = {}
    for name, value in list(light.graph.initializers.items()):
        tensor = value.const_value
        if tensor is None or tensor.nbytes <= WEIGHT_FEED_BYTES:
            continue
        del light.graph.initializers[name]
        if value not in light.graph.inputs:  # old models list initializers as inputs too
            light.graph.inputs.append(value)
        weights[name] = tensor
    return light, weights


def light_model(
    model: ir.Model, cache: WeightCache | None = None
) -> tuple[ir.Model, dict[str, np.ndarray]]:
    """A clone whose large main-graph initializers are graph inputs, and their arrays (no copy)."""
    light, tensors = weightless_clone(model)
    weights = {
        name: cache.array(tensor) if cache is not None else tensor.numpy()
        for name, tensor in tensors.items()
    }
    return light, weights


def run_model(
    model: ir.Model,
    feeds: Sequence[Mapping[str, np.ndarray]],
    *,
    cache: WeightCache | None = None,
) -> tuple[str, list[dict[str, np.ndarray]]]:
    """Outputs for each feed: ONNX Runtime first, the ONNX reference evaluator when ORT refuses."""
    names = [v.name or "" for v in model.graph.outputs]
    light, weights = light_model(model, cache)
    try:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 4  # failures come back as exceptions; no stderr noise
        # Idle worker threads sleep instead of spinning: one run per session, often on shared
        # cores, where spinning burns the CPU the other thread needs (same outputs either way).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(
            ir.serde.serialize_model(light).SerializeToString(),
            options,
            providers=["CPUExecutionProvider"],
        )
        results = [
            dict(zip(names, session.run(names, {**adapt_feeds(model, f), **weights}), strict=True))
            for f in feeds
        ]
        return "onnxruntime", results
    except Exception as exc:  # ORT raises its own exception types; fall back below
        logger.info("ONNX Runtime cannot run the graph (%s); using the reference evaluator", exc)
        ort_error = " ".join(str(exc).split())[:200]
    try:
        from onnx.reference import ReferenceEvaluator

        evaluator = ReferenceEvaluator(ir.serde.serialize_model(light))
        results = []
        for f in feeds:
            outs = evaluator.run(None, {**adapt_feeds(model, f), **weights})
            results.append(dict(zip(names, [np.asarray(o) for o in outs], strict=True)))
        return "reference", results
    except Exception as exc:
        raise BackendError(
            f"neither ONNX Runtime ({ort_error}) nor the reference evaluator "
            f"({' '.join(str(exc).split())[:200]}) can run the model"
        ) from exc


def drift(
    before: Sequence[Mapping[str, np.ndarray]],
    after: Sequence[Mapping[str, np.ndarray]],
    *,
    rtol: float,
    atol: float,
    engine: str = "onnxruntime",
) -> Drift:
    """Compare outputs by name: floats within rtol/atol (NaN only where NaN), integers exactly."""
    worst = 0.0
    for a_feed, b_feed in zip(before, after, strict=True):
        for name, a in a_feed.items():
            if name not in b_feed:
                return Drift(float("inf"), False, f"output {name!r} disappeared", engine)
            a = np.asarray(a)
            b = np.asarray(b_feed[name])
            if a.shape != b.shape:
                return Drift(
                    float("inf"),
                    False,
                    f"output {name!r} changed shape {a.shape} -> {b.shape}",
                    engine,
                )
            exact = not np.issubdtype(a.dtype, np.floating) or not np.issubdtype(
                b.dtype, np.floating
            )
            a64 = a.astype(np.float64)
            b64 = b.astype(np.float64)
            nan_a, nan_b = np.isnan(a64), np.isnan(b64)
            if np.any(nan_a != nan_b):
                return Drift(float("inf"), False, f"output {name!r} gained or lost NaNs", engine)
            mask = ~nan_a
            diff = np.abs(a64[mask] - b64[mask]) if a.size else np.zeros(0)
            err = float(diff.max()) if diff.size else 0.0
            worst = max(worst, err)
            if exact and err != 0.0:
                return Drift(err, False, f"integer output {name!r} changed (max {err:g})", engine)
            if not exact and not np.allclose(a64[mask], b64[mask], rtol=rtol, atol=atol):
                return Drift(
                    err,
                    False,
                    f"output {name!r} drifted by {err:.3g} (rtol={rtol:g}, atol={atol:g})",
                    engine,
                )
    return Drift(worst, True, "", engine)


def apply_verified(
    pass_: ir.passes.PassBase,
    model: ir.Model,
    feeds: Sequence[Mapping[str, np.ndarray]],
    *,
    rtol: float = 1e-4,
    atol: float = 1e-5,
) -> tuple[ir.Model, Drift]:
    """Run ``pass_`` on a clone of ``model`` and measure its drift on ``feeds`` (model untouched)."""
    _, before = run_model(model, feeds)
    result = pass_(model.clone())
    engine, after = run_model(result.model, feeds)
    return result.model, drift(before, after, rtol=rtol, atol=atol, engine=engine)
