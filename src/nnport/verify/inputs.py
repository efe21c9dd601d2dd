"""Seeded, dtype-aware and range-aware input generation, and loading inputs from .npz files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx_ir as ir

from nnport.errors import InputSpecError
from nnport.model.dtypes import to_numpy
from nnport.model.graphs import infer_shapes
from nnport.model.specs import graph_inputs, static_input_shapes

# Inputs consumed by these ops (at these input positions) must stay positive.
_POSITIVE_CONSUMERS = {("Log", 0), ("Sqrt", 0), ("Reciprocal", 0), ("Div", 1), ("Pow", 0)}
# Inputs used as indices: (op, input index, data input index, axis attribute, default axis).
_INDEX_CONSUMERS = {
    ("Gather", 1): (0, "axis", 0),
    ("GatherElements", 1): (0, "axis", 0),
    ("ScatterElements", 1): (0, "axis", 0),
}


# Ops a value passes through unchanged in range (Casts that nnport's cast-graph-io inserts,
# reshapes): consumers behind them still decide the value's range.
_PASSTHROUGH = {"Cast", "Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze"}
_MAX_DEPTH = 4


def _uses(value: ir.Value, depth: int = 0) -> list[tuple[ir.Node, int]]:
    """Consumers of ``value``, looking through pass-through ops (input 0) a few levels deep."""
    found: list[tuple[ir.Node, int]] = []
    for node, index in value.uses():
        if node.op_type in _PASSTHROUGH and index == 0 and depth < _MAX_DEPTH and node.outputs:
            found.extend(_uses(node.outputs[0], depth + 1))
        else:
            found.append((node, index))
    return found


def _value_range(value: ir.Value, shape: tuple[int, ...]) -> tuple[float, float] | None:
    """A safe (low, high) range for ``value`` derived from how the graph consumes it."""
    positive = False
    high: float | None = None
    for node, index in _uses(value):
        if (node.op_type, index) in _POSITIVE_CONSUMERS:
            positive = True
        spec = _INDEX_CONSUMERS.get((node.op_type, index))
        if spec is None:
            continue
        data_index, attr, default = spec
        data = node.inputs[data_index]
        axis = node.attributes.get_int(attr, default)
        if (
            data is not None
            and data.shape is not None
            and -len(data.shape) <= axis < len(data.shape)
        ):
            dim = data.shape[axis]
            if isinstance(dim, int):
                high = dim if high is None else min(high, dim)
    if high is not None:
        return 0.0, float(high)
    if positive:
        return 0.1, 2.0
    return None


def _index_dim_unknown(value: ir.Value) -> bool:
    """True when ``value`` indexes a tensor whose length along the indexed axis is unknown."""
    for node, index in _uses(value):
        spec = _INDEX_CONSUMERS.get((node.op_type, index))
        if spec is not None:
            data = node.inputs[spec[0]]
            axis = node.attributes.get_int(spec[1], spec[2])
            if data is None or data.shape is None or not -len(data.shape) <= axis < len(data.shape):
                return True
            if not isinstance(data.shape[axis], int):
                return True
    return False


def _feeds_indices(value: ir.Value) -> bool:
    return any((n.op_type, i) in _INDEX_CONSUMERS for n, i in _uses(value))


def generate_inputs(
    model: ir.Model,
    shapes: Mapping[str, tuple[int, ...]] | None = None,
    *,
    samples: int = 1,
    seed: int = 0,
) -> list[dict[str, np.ndarray]]:
    """``samples`` feeds for ``model``: floats ~N(0,1), ints in small or index-safe ranges."""
    concrete = static_input_shapes(model, shapes)
    typed = {v.name: v for v in graph_inputs(model)}
    if any(_index_dim_unknown(v) for v in typed.values()):
        # The index bounds need the indexed data's dims: infer them on a copy (the caller's
        # model is never modified, not even by annotations).
        copy = ir.serde.deserialize_model(ir.serde.serialize_model(model))
        infer_shapes(copy)
        typed = {v.name: v for v in graph_inputs(copy)}
    rng = np.random.default_rng(seed)
    feeds: list[dict[str, np.ndarray]] = []
    for _ in range(samples):
        feed: dict[str, np.ndarray] = {}
        for value in graph_inputs(model):
            name = value.name or ""
            shape = concrete[name]
            dtype = to_numpy(value.dtype) if value.dtype is not None else np.dtype(np.float32)
            bounds = _value_range(typed.get(value.name, value), shape)
            if dtype == np.bool_:
                feed[name] = rng.random(shape) < 0.5
            elif np.issubdtype(dtype, np.integer):
                low, high = bounds or (0.0, 10.0)
                feed[name] = rng.integers(int(low), max(int(high), int(low) + 1), shape).astype(
                    dtype
                )
            elif (
                bounds is not None
                and bounds[0] == 0.0
                and _feeds_indices(typed.get(value.name, value))
            ):
                # a float input cast to indices (cast-graph-io): whole numbers in range
                feed[name] = rng.integers(0, max(int(bounds[1]), 1), shape).astype(dtype)
            elif bounds is not None:
                feed[name] = rng.uniform(bounds[0], bounds[1], shape).astype(dtype)
            else:
                feed[name] = rng.standard_normal(shape).astype(dtype)
            # A rank-0 draw is a NumPy scalar (numpy.bool, numpy.int64), which runtimes refuse
            # ("Unable to handle object of type numpy.bool"): every feed is an array.
            feed[name] = np.asarray(feed[name])
        feeds.append(feed)
    return feeds


def load_npz(path: str | Path, model: ir.Model | None = None) -> list[dict[str, np.ndarray]]:
    """Read feeds from an .npz of named arrays (one sample, or a leading sample axis per name).

    A key ``NAME`` holds one sample; keys ``NAME__0``, ``NAME__1``, ... hold several samples.
    """
    path = Path(path)
    if not path.is_file():
        raise InputSpecError(f"no such inputs file: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as exc:
        raise InputSpecError(f"{path} is not a readable .npz file: {exc}") from exc
    samples: dict[int, dict[str, np.ndarray]] = {}
    for key, array in arrays.items():
        name, sep, index = key.rpartition("__")
        if sep and index.isdigit():
            samples.setdefault(int(index), {})[name] = array
        else:
            samples.setdefault(0, {})[key] = array
    feeds = [samples[i] for i in sorted(samples)]
    if model is not None:
        expected = {v.name or "" for v in graph_inputs(model)}
        for feed in feeds:
            missing = expected - set(feed)
            extra = set(feed) - expected
            if missing or extra:
                raise InputSpecError(
                    f"{path} does not match the model inputs"
                    + (f"; missing {sorted(missing)}" if missing else "")
                    + (f"; unknown {sorted(extra)}" if extra else ""),
                )
    return feeds
