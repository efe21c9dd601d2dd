"""Re-annotate a saved probe: every outcome's nodes and graph I/O recomputed from its case."""

from __future__ import annotations

import dataclasses
from typing import Any

import onnx

from nnport.probe.cases import case_inputs, load_cases
from nnport.probe.nodes import graph_io, node_uses
from nnport.probe.outcomes import ProbeResult


def annotate(result: ProbeResult) -> ProbeResult:
    """Recompute every outcome's nodes and graph I/O from the case models (the same variant the
    probe ran: frozen inputs for ncnn, converted to the outcome's opset), so outcomes saved by an
    older probe carry what the current derivation reads (integer attributes, graph I/O dtypes)."""
    import warnings

    from onnx import version_converter

    wanted = {o.case for o in result.outcomes}
    models: dict[str, onnx.ModelProto] = {
        case.name: case_inputs(case, freeze=result.backend == "ncnn")[0]
        for case in load_cases(names=sorted(wanted))
    }
    outcomes = []
    cache: dict[tuple[str, int], tuple[Any, ...] | None] = {}
    for outcome in result.outcomes:
        key = (outcome.case, outcome.opset)
        if key not in cache:
            model = models.get(outcome.case)
            variant: onnx.ModelProto | None = model
            if model is not None and outcome.opset != outcome.original_opset:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        variant = version_converter.convert_version(model, outcome.opset)
                except Exception:
                    variant = None
            cache[key] = None if variant is None else (node_uses(variant), *graph_io(variant))
        found = cache[key]
        if found is None or outcome.status == "unconvertible":
            outcomes.append(outcome)
            continue
        nodes, ins, outs = found
        outcomes.append(
            dataclasses.replace(outcome, nodes=nodes, graph_inputs=ins, graph_outputs=outs)
        )
    return dataclasses.replace(result, outcomes=tuple(outcomes))
