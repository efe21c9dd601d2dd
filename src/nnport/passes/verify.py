"""Run a model before and after a rewrite on the same inputs and measure what the rewrite changed."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import onnx_ir as ir

from nnport.errors import BackendError
from nnport.model.external import for_runtime, inline_external

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

# Where ONNX Runtime resolves external data of a model given as bytes (default: the cwd).
EXTERNAL_FOLDER = "session.model_external_initializers_file_folder_path"


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
        runnable, folder = for_runtime(light)  # small or subgraph weights may still be external
        if folder is not None:
            options.add_session_config_entry(EXTERNAL_FOLDER, str(folder))
        session = ort.InferenceSession(
            ir.serde.serialize_model(runnable).SerializeToString(),
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

        evaluator = ReferenceEvaluator(ir.serde.serialize_model(inline_external(light)))
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


# Default-domain schema versions that only widened the type constraints (bfloat16, small
# integers, float8/int4) or added an attribute/input whose absence keeps the old behaviour
# (Reshape-14 allowzero, Shape-15 start/end, Constant-12 value_*), per the ONNX operator
# changelog. Between two opsets where an op moved only through these, a node of it (with the
# same attributes) computes the same thing; anything else (Softmax-13, Squeeze-13, ...) is run.
_TYPE_ONLY_SPEC = """
Add Sub Mul Div Relu: 13 14
Sigmoid Tanh Exp Log Sqrt Neg Abs Reciprocal Floor Ceil Erf Sum Mean: 13
MatMul Gemm Concat Gather Slice Expand Tile Greater Less: 13
Max Min Clip: 12 13
LeakyRelu PRelu Where GreaterOrEqual LessOrEqual: 16
Identity: 13 14 16 19 21
Reshape: 13 14 19 21
Shape: 13 15 19 21
Transpose Flatten: 13 21
Cast: 13 19 21
Constant: 12 13 19 21
Equal: 13 19
Pow: 12 13 15
"""
_TYPE_ONLY_VERSIONS: dict[str, frozenset[int]] = {
    op: frozenset(int(v) for v in versions.split())
    for line in _TYPE_ONLY_SPEC.strip().splitlines()
    for ops, versions in [line.split(":")]
    for op in ops.split()
}


def _schema_version(op: str, domain: str, opset: int) -> int | None:
    import onnx

    try:
        return int(onnx.defs.get_schema(op, opset, domain).since_version)
    except Exception:  # unknown op or opset: no proof
        return None


def _same_semantics(op: str, domain: str, old_opset: int, new_opset: int) -> bool:
    """Whether ``op`` means the same at both opsets (same schema, or only type-only bumps)."""
    low, high = sorted((old_opset, new_opset))
    versions = {_schema_version(op, domain, v) for v in range(low, high + 1)}
    if None in versions:
        return False
    if len(versions) == 1:
        return True
    allowed = _TYPE_ONLY_VERSIONS.get(op, frozenset()) if domain == "" else frozenset()
    return all(v in allowed for v in versions - {min(versions)})  # type: ignore[type-var]


def _same_attrs(a: ir.Node, b: ir.Node) -> bool:
    if set(a.attributes) != set(b.attributes):
        return False
    for name, attr in a.attributes.items():
        other = b.attributes[name]
        if attr.type != other.type or attr.type in (
            ir.AttributeType.GRAPH, ir.AttributeType.GRAPHS, ir.AttributeType.TENSORS,
        ):  # fmt: skip
            return False
        if attr.type == ir.AttributeType.TENSOR:
            if attr.value is not other.value:
                return False
        elif attr.value != other.value:
            return False
    return True


def _signature(values: Sequence[ir.Value]) -> list[tuple[str, str, str]]:
    return [(v.name or "", str(v.dtype), str(v.shape)) for v in values]


def same_computation(before: ir.Model, after: ir.Model) -> bool:
    """Whether ``after`` computes exactly what ``before`` does by construction: the same nodes
    in the same order (op, inputs, outputs, attributes), the same weight tensors (the very
    objects), the same graph signature, and every op with the same meaning under both opset
    imports (a version change with no node change, e.g. opset 17 -> 13 for ResNet-50).
    Subgraphs, functions or any difference answer False, and the model is run instead."""
    if before.functions or after.functions:
        return False
    a_nodes, b_nodes = list(before.graph), list(after.graph)
    if len(a_nodes) != len(b_nodes):
        return False
    if _signature(before.graph.inputs) != _signature(after.graph.inputs):
        return False
    if _signature(before.graph.outputs) != _signature(after.graph.outputs):
        return False
    a_init, b_init = before.graph.initializers, after.graph.initializers
    if set(a_init) != set(b_init):
        return False
    if any(a_init[k].const_value is not b_init[k].const_value for k in a_init):
        return False
    versions: dict[tuple[str, str], bool] = {}
    for a, b in zip(a_nodes, b_nodes, strict=True):
        if (a.op_type, a.domain, a.overload) != (b.op_type, b.domain, b.overload):
            return False
        if [v.name if v is not None else None for v in a.inputs] != [
            v.name if v is not None else None for v in b.inputs
        ]:
            return False
        if [v.name for v in a.outputs] != [v.name for v in b.outputs] or not _same_attrs(a, b):
            return False
        key = (a.op_type, a.domain)
        if key not in versions:
            domain = "" if a.domain == "ai.onnx" else a.domain
            va = before.opset_imports.get(domain)
            vb = after.opset_imports.get(domain)
            if va is None or vb is None:
                versions[key] = False
            else:
                versions[key] = va == vb or _same_semantics(a.op_type, domain, va, vb)
        if not versions[key]:
            return False
    return True


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
