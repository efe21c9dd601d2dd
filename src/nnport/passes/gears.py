"""Re-open the batch dim (or H and W) of a fixed model for ATC gears, verified at every gear shape."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import onnx_ir as ir

from nnport.model.graphs import infer_shapes
from nnport.model.specs import graph_inputs
from nnport.passes.base import all_nodes
from nnport.passes.verify import drift, run_model
from nnport.verify.inputs import generate_inputs

# Hand-rolled: freezing bakes the frozen sizes into folded shape constants (Reshape [1,-1],
# Resize sizes, ...); the only proof that a dim may vary again is running every gear against
# the original and checking the re-opened model for the target at every gear shape.


def gear_shapes(
    shapes: Mapping[str, tuple[int, ...]],
    *,
    batch: Sequence[int] = (),
    images: Sequence[tuple[int, int]] = (),
) -> list[dict[str, tuple[int, ...]]]:
    """The input shapes of each gear: batch gears set axis 0, image gears H and W of 4-D inputs."""
    if batch:
        return [{k: (b, *s[1:]) for k, s in shapes.items()} for b in batch]
    return [
        {k: (s[0], s[1], h, w) if len(s) == 4 else tuple(s) for k, s in shapes.items()}
        for h, w in images
    ]


def _reopened(
    fixed: ir.Model, shapes: Mapping[str, tuple[int, ...]], *, image: bool
) -> ir.Model | None:
    """A clone of ``fixed`` with symbolic batch (or H, W) input dims, every other input dim
    frozen as in ``shapes``, and unknown inner shapes."""
    candidate = fixed.clone()
    opened = False
    for value in graph_inputs(candidate):
        given = shapes.get(value.name or "")
        dims = list(given) if given is not None else list(value.shape or [])
        if image and len(dims) == 4:
            value.shape = ir.Shape([dims[0], dims[1], "height", "width"])
            opened = True
        elif not image and dims:
            value.shape = ir.Shape(["batch", *dims[1:]])
            opened = True
    if not opened:
        return None
    for node in all_nodes(candidate.graph):
        for out in node.outputs:
            out.shape = None
    infer_shapes(candidate)  # outputs need a shape (symbolic where the gear shows through)
    for out in candidate.graph.outputs:
        if out.shape is None or not len(out.shape):
            continue
        if image:  # spatial output sizes follow the input in ways only a run shows
            rest = [f"{out.name}_dim{i}" for i in range(1, len(out.shape))]
            out.shape = ir.Shape([out.shape[0], *rest])
        else:
            out.shape = ir.Shape(["batch", *list(out.shape)[1:]])
    return candidate


def _text(exc: Exception) -> str:
    return " ".join(str(exc).split())[:160]


def reopen_gears(
    original: ir.Model,
    fixed: ir.Model,
    shapes: Mapping[str, tuple[int, ...]],
    *,
    batch: Sequence[int] = (),
    images: Sequence[tuple[int, int]] = (),
    profile: Any = None,
    rtol: float,
    atol: float,
    seed: int = 0,
) -> tuple[ir.Model | None, str]:
    """``fixed`` with the gear dims symbolic if, at every gear shape, it matches ``original``
    (and ``profile``'s check passes when given), else None and the reason."""
    candidate = _reopened(fixed, shapes, image=bool(images))
    if candidate is None:
        return None, "no 4-D input to give image gears" if images else "no input has a batch axis"
    label = "batch" if batch else "image"
    names = [str(b) for b in batch] or [f"{h}x{w}" for h, w in images]
    every = gear_shapes(shapes, batch=batch, images=images)
    for name, gear_shape in zip(names, every, strict=True):
        feeds = generate_inputs(original, gear_shape, samples=1, seed=seed)
        try:
            _, before = run_model(original, feeds)
        except Exception as exc:
            return None, f"the original model does not run at {label} {name}: {_text(exc)}"
        try:
            _, after = run_model(candidate, feeds)
        except Exception as exc:  # the frozen size is baked into the graph: it will not run
            return None, f"{label} {name} does not run: {_text(exc)}"
        result = drift(before, after, rtol=rtol, atol=atol)
        if not result.ok:
            return None, f"{label} {name}: {result.reason}"
        if profile is not None:
            from nnport.check import check  # the planner's import, kept lazy here too

            report = check(candidate, profile, input_shapes=gear_shape)
            if not report.deployable:
                first = report.violations[0]
                return None, f"{label} {name}: not deployable ({first.rule}: {first.message})"
    sizes = ", ".join(str(b) for b in batch) or "; ".join(f"{h}x{w}" for h, w in images)
    checked = " and checked for the target" if profile is not None else ""
    return candidate, f"verified{checked} at {label} sizes {sizes}"


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
    return reopen_gears(original, fixed, shapes, batch=gears, rtol=rtol, atol=atol, seed=seed)
