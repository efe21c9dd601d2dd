"""The cases a probe runs: the ONNX backend node suite (and nnport's exporter cases), filtered,
with their inputs as arrays."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import onnx

from nnport.probe.exporter import PREFIX, exporter_cases


def primary_op(model: onnx.ModelProto, name: str) -> tuple[str, str]:
    """The operator a case tests: its only node, or the case's named op for expanded graphs."""
    nodes = list(model.graph.node)
    if len(nodes) == 1:
        return nodes[0].op_type, nodes[0].domain
    lowered = name.removeprefix("test_").replace("_", "").lower()
    for node in nodes:
        if lowered.startswith(node.op_type.lower()):
            return node.op_type, node.domain
    return (nodes[0].op_type, nodes[0].domain) if nodes else ("", "")


def normalize_values(value: Any) -> Any:
    """TensorProto and numpy scalars as arrays (as the ONNX backend runner feeds them)."""
    import numpy as np

    if isinstance(value, onnx.TensorProto):
        return onnx.numpy_helper.to_array(value)
    if isinstance(value, np.generic):
        return np.asarray(value)
    if isinstance(value, (list, tuple)):
        return [normalize_values(v) for v in value]
    return value


def _cases_of_ops(ops: Sequence[str]) -> list[Any] | None:
    """Generate only the named operators' cases (onnx builds each op's cases in its own module
    under ``onnx.backend.test.case.node``); None when an op has no module of its own name."""
    import importlib

    for op in ops:
        try:
            importlib.import_module(f"onnx.backend.test.case.node.{op.lower()}")
        except ImportError:
            return None
    from onnx.backend.test.case.node import _NodeTestCases

    return list(_NodeTestCases)


def load_cases(
    ops: Sequence[str] | None = None,
    limit: int | None = None,
    names: Sequence[str] | None = None,
    per_op: int | None = None,
    exporters: bool = False,
) -> list[Any]:
    """The node-suite cases (onnx's ``TestCase`` objects), filtered by op names or case names.

    ``per_op`` keeps only the first N single-node cases of each operator (a quick survey);
    ``exporters`` adds nnport's exporter cases (``probe_exporter``), which named cases also
    find.
    """
    import warnings

    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the case generators warn on purpose (overflow, nan)
        found = _cases_of_ops(ops) if ops else None
        if names and all(n.startswith(PREFIX) for n in names):
            found = []  # exporter cases only: no need to build the suite
        elif found is None:
            found = load_model_tests(kind="node")
        cases: list[Any] = [c for c in found if c.model is not None]
    if exporters or any(n.startswith(PREFIX) for n in names or ()):
        cases += exporter_cases()
    if names:
        wanted = set(names)
        cases = [c for c in cases if c.name in wanted]
    if ops:
        wanted_ops = {o.lower() for o in ops}
        cases = [c for c in cases if primary_op(c.model, c.name)[0].lower() in wanted_ops]
    if per_op is not None:
        counts: dict[str, int] = {}
        kept = []
        for case in cases:
            op = primary_op(case.model, case.name)[0]
            if len(case.model.graph.node) == 1 and counts.get(op, 0) < per_op:
                counts[op] = counts.get(op, 0) + 1
                kept.append(case)
        cases = kept
    return cases[:limit] if limit is not None else cases


def freeze_integer_inputs(
    model: onnx.ModelProto, inputs: list[Any]
) -> tuple[onnx.ModelProto, list[Any]]:
    """Make integer and 0-/1-D float graph inputs after the first into initializers.

    These are shapes, axes, repeats, pads, scales, per-channel weights (BatchNormalization,
    PRelu), Clip bounds: what exported models carry as initializers.

    Converters such as pnnx need those as constants, as they are in exported models; the
    profile then lists the positions under ``constant_inputs``.
    """
    import numpy as np

    initializers = {t.name for t in model.graph.initializer}
    graph_inputs = [i for i in model.graph.input if i.name not in initializers]
    frozen = onnx.ModelProto()
    frozen.CopyFrom(model)
    keep_values, keep_inputs = [], []
    for position, (info, value) in enumerate(zip(graph_inputs, inputs, strict=False)):
        array = value if isinstance(value, np.ndarray) else None
        small_float = array is not None and array.dtype.kind == "f" and array.ndim <= 1
        if position > 0 and array is not None and (array.dtype.kind in "iu" or small_float):
            frozen.graph.initializer.append(onnx.numpy_helper.from_array(array, info.name))
        else:
            keep_values.append(value)
            keep_inputs.append(info)
    if len(keep_inputs) == len(graph_inputs):
        return model, inputs
    del frozen.graph.input[:]
    frozen.graph.input.extend(keep_inputs)
    return frozen, keep_values


def case_inputs(case: Any, freeze: bool = False) -> tuple[onnx.ModelProto, list[Any]]:
    """A node-suite case's model and its first data set's inputs as arrays; with ``freeze``
    (ncnn), the inputs ``freeze_integer_inputs`` makes initializers are in the model instead."""
    inputs = normalize_values(list(case.data_sets[0][0]))
    return freeze_integer_inputs(case.model, inputs) if freeze else (case.model, inputs)
