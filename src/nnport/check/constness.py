"""Classify each tensor as constant, foldable, shape-derived or run-time, to judge 'must be constant' rules."""

from __future__ import annotations

import enum
from collections.abc import Iterable

import onnx_ir as ir

from nnport.check.infer import Inference

# Ops whose output is random or otherwise not a function of constant inputs.
_NEVER_FOLD = {
    "RandomNormal",
    "RandomNormalLike",
    "RandomUniform",
    "RandomUniformLike",
    "Multinomial",
    "Bernoulli",
    "If",
    "Loop",
    "Scan",
}
_SHAPE_OPS = {"Shape", "Size"}


class Constness(enum.IntEnum):
    """How constant a tensor is; higher is less constant."""

    CONSTANT = 0  # an initializer or a Constant node's output: the converter sees its value
    FOLDABLE = 1  # computable now from constants and static shapes (fix: fold-constants)
    SHAPE = 2  # computable once dynamic input dims are fixed (fix: freeze-shapes)
    RUNTIME = 3  # depends on input data


def _initializer_names(graph: ir.Graph) -> set[str]:
    return {name for name in graph.initializers}


def classify(
    graphs: Iterable[ir.Graph], inference: Inference, outer: dict[str, Constness] | None = None
) -> dict[str, Constness]:
    """Constness of every value produced in ``graphs`` (main graph first; subgraphs see outer values)."""
    result: dict[str, Constness] = dict(outer or {})
    for graph in graphs:
        for name in _initializer_names(graph):
            result[name] = Constness.CONSTANT
        for value in graph.inputs:
            if value.name and value.name not in graph.initializers:
                result[value.name] = Constness.RUNTIME
        for node in graph:
            level = _node_level(node, result, inference)
            for out in node.outputs:
                if out.name:
                    result[out.name] = level
    return result


def _node_level(node: ir.Node, known: dict[str, Constness], inference: Inference) -> Constness:
    if node.domain in ("", "ai.onnx") and node.op_type == "Constant":
        return Constness.CONSTANT
    if node.domain in ("", "ai.onnx") and node.op_type == "Identity" and node.inputs:
        source = node.inputs[0]
        # A renamed initializer (exporters share weights this way) is as constant as its source.
        if source is not None and known.get(source.name or "") == Constness.CONSTANT:
            return Constness.CONSTANT
    if node.op_type in _NEVER_FOLD:
        return Constness.RUNTIME
    if node.domain in ("", "ai.onnx") and node.op_type in _SHAPE_OPS:
        source = node.inputs[0] if node.inputs else None
        facts = inference.get(source)
        if node.op_type == "Shape" and facts.shape is not None:
            start = _attr_int(node, "start", 0)
            end = _attr_int(node, "end", len(facts.shape))
            dims = facts.shape[slice(start, end)]
            static = all(isinstance(d, int) for d in dims)
        else:
            static = facts.static
        return Constness.FOLDABLE if static else Constness.SHAPE
    level = Constness.FOLDABLE
    for value in node.inputs:
        if value is None or not value.name:
            continue
        here = known.get(value.name, Constness.RUNTIME)
        if here == Constness.CONSTANT:
            here = Constness.FOLDABLE
        level = max(level, here)
    if not any(v is not None and v.name for v in node.inputs):
        return Constness.RUNTIME  # no inputs and not Constant: a generator op
    return level


def _attr_int(node: ir.Node, name: str, default: int) -> int:
    attr = node.attributes.get(name)
    if attr is None:
        return default
    try:
        return int(attr.value)
    except (TypeError, ValueError):
        return default
