"""Result types of ``check``: Violation, ViolationGroup and CheckReport (frozen, JSON round-trip)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

RULES: dict[str, str] = {
    "op-unsupported": "the target has no kernel or mapping for this op (or op version)",
    "opset-out-of-range": "the model imports an opset outside the target's accepted range",
    "dtype-unsupported": "an input or output element type of the node is not allowed",
    "dynamic-shape": "the target needs static shapes and a tensor has symbolic or unknown dims",
    "input-not-constant": "an input the target needs as a constant initializer is computed",
    "attribute-unsupported": "an attribute value (or Resize scale) is outside what the target allows",
    "io-dtype": "a graph input or output element type is not allowed",
    "rank-exceeded": "a tensor's rank is above the target's maximum",
    "broadcast-unsupported": "an element-wise op broadcasts where the target needs equal shapes",
    "input-value-unsupported": "a constant input holds a value the target cannot take",
    "input-unsupported": "an optional input is given that the target's op cannot take",
    "graph-unsupported": "a graph pattern the converter cannot take (an input passed straight to an output)",
    "output-unsupported": "an optional output is requested that the target's op cannot produce",
    "batch-axis-unknown": "an axis-dependent op in a graph from which the converter cannot tell the batch axis",
    "batch-not-one": "an op fed from a fixed first axis other than 1 on a target without a batch axis",
    "runtime-defect": "the node hits a measured defect of the target's runtime (wrong results, no error)",
    "quantized-model": "the model arrives quantized (Q/DQ) and the target's converter wants a float model to quantize itself",
}


@dataclass(frozen=True)
class Violation:
    """One node (or graph input/output, or the model) breaking one rule of the target.

    ``node`` is the node name ('' for model-level and graph input/output violations, where
    ``tensor`` names the input/output); ``opset`` is the model's opset for the op's domain.
    """

    node: str
    op: str
    domain: str
    opset: int
    rule: str
    message: str
    fix: str | None
    tensor: str | None = None
    graph: str = ""
    index: int = -1

    @property
    def where(self) -> str:
        """A short location: the node name, else 'input x' / 'output y', else 'model'."""
        if self.node:
            return self.node
        if self.tensor:
            return self.tensor
        return "model"


@dataclass(frozen=True)
class ViolationGroup:
    """Repeated violations summarised: same rule, op and fix, with how many and where."""

    rule: str
    op: str
    fix: str | None
    count: int
    nodes: tuple[str, ...]
    example: str


@dataclass(frozen=True)
class CheckReport:
    """The verdict of ``check``: deployable when there is no violation.

    ``target_ref`` is what ``--target`` needs to name the same profile again (the shipped
    name, or the profile file's path).
    """

    target: str
    deployable: bool
    violations: tuple[Violation, ...]
    summary: tuple[ViolationGroup, ...] = ()
    model: str = ""
    target_source: str = ""
    opsets: dict[str, int] | None = None
    input_shapes: dict[str, tuple[int, ...]] | None = None
    node_count: int = 0
    fixes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    seconds: float = 0.0
    target_ref: str = ""
    # The number format check assumes the device computes in (the profile's [precision]).
    precision: str = ""
    precision_note: str = ""


def group(violations: Iterable[Violation], *, keep: int = 5) -> tuple[ViolationGroup, ...]:
    """Group by (rule, op, fix) in order of first appearance; keep the first ``keep`` locations."""
    groups: dict[tuple[str, str, str | None], list[Violation]] = {}
    for v in violations:
        groups.setdefault((v.rule, v.op, v.fix), []).append(v)
    return tuple(
        ViolationGroup(
            rule=rule,
            op=op,
            fix=fix,
            count=len(items),
            nodes=tuple(v.where for v in items[:keep]),
            example=items[0].message,
        )
        for (rule, op, fix), items in groups.items()
    )
