"""Re-open the batch dim of a fixed model for ATC gears, verified at every gear batch size."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import onnx_ir as ir

from nnport.model.specs import graph_inputs
from nnport.passes.base import all_nodes
from nnport.passes.verify import drift, run_model
from nnport.verify.inputs import generate_inputs

# Hand-rolled: freezing bakes batch 1 into folded shape constants (Reshape [1,-1], ...); the
# only proof that the batch may vary again is running every gear against the original.


def reopen_batch(
    original: ir.Model,
    fixed: ir.Model,
    shapes: Mapping[str, tuple[int, ...]],
    gears: Sequence[int],
    *,
    rtol: float,
    atol: float,
    seed: int = 0,
) -> tuple[ir.Model | None, str]:
    """``fixed`` with a symbolic batch dim if it matches ``original`` at every gear, else a reason."""
    candidate = fixed.clone()
    for value in graph_inputs(candidate):
        if value.shape is None or not len(value.shape):
            return None, f"input {value.name!r} has no batch axis"
        value.shape = ir.Shape(["batch", *list(value.shape)[1:]])
    for node in all_nodes(candidate.graph):
        for out in node.outputs:
            out.shape = None
    for out in candidate.graph.outputs:
        if out.shape is not None and len(out.shape):
            out.shape = ir.Shape(["batch", *list(out.shape)[1:]])
    for batch in gears:
        gear_shapes = {name: (batch, *shape[1:]) for name, shape in shapes.items()}
        feeds = generate_inputs(original, gear_shapes, samples=1, seed=seed)
        try:
            _, before = run_model(original, feeds)
            _, after = run_model(candidate, feeds)
        except Exception as exc:  # the batch is baked into the graph: it will not run
            return None, f"batch {batch} does not run: {' '.join(str(exc).split())[:160]}"
        result = drift(before, after, rtol=rtol, atol=atol)
        if not result.ok:
            return None, f"batch {batch}: {result.reason}"
    return candidate, f"verified at batch sizes {', '.join(map(str, gears))}"
