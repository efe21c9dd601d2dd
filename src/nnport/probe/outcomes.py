"""What a probe records: one outcome per case and opset, a probe run's result, and the task a
worker runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from nnport.probe.nodes import NodeUse

Status = Literal["pass", "fail", "crash", "timeout", "error", "unconvertible"]


@dataclasses.dataclass(frozen=True)
class CaseOutcome:
    """What happened to one case at one opset through the backend."""

    case: str
    op: str
    domain: str
    opset: int
    original_opset: int
    status: Status
    stage: str = ""
    message: str = ""
    seconds: float = 0.0
    single_node: bool = True
    nodes: tuple[NodeUse, ...] = ()
    graph_inputs: tuple[str, ...] = ()  # element types of the graph inputs (not initializers)
    graph_outputs: tuple[str, ...] = ()
    variant: str = ""  # "batch1": the case with its inputs cut to one sample (probe_batch)
    leading_dim: int = 0  # first-axis length of the inputs as run (probe_batch.leading_dim)


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """All outcomes of one probe run, its headline counts and the profile it wrote."""

    backend: str
    runtime: str
    date: str
    source: str
    cases: int
    passed: int
    outcomes: tuple[CaseOutcome, ...]
    profile: str | None = None
    seconds: float = 0.0
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

    def at_own_opset(self) -> list[CaseOutcome]:
        """The outcomes of the cases as written (not converted, not cut to batch one)."""
        return as_written(self.outcomes)


ProgressCallback = Callable[[int, int, CaseOutcome], None]


def as_written(outcomes: Iterable[CaseOutcome]) -> list[CaseOutcome]:
    """The outcomes of the cases as written (not converted, not cut to batch one)."""
    return [o for o in outcomes if o.opset == o.original_opset and not o.variant]


@dataclasses.dataclass
class Task:
    """One run of one case at one opset (in a worker)."""

    id: str
    case: str
    op: str
    domain: str
    opset: int
    original_opset: int
    model: Path
    data: Path
    rtol: float
    atol: float
    single_node: bool
    nodes: tuple[NodeUse, ...]
    same_as: str = ""  # a task whose nodes are identical (only the opset import differs)
    loose_dtype: bool = False  # compare values after casting to the expected dtype (zoo models)
    graph_inputs: tuple[str, ...] = ()
    graph_outputs: tuple[str, ...] = ()
    variant: str = ""
    leading_dim: int = 0

    def outcome(
        self, status: Status, stage: str = "", message: str = "", seconds: float = 0.0
    ) -> CaseOutcome:
        return CaseOutcome(
            self.case, self.op, self.domain, self.opset, self.original_opset, status, stage,
            message, seconds, self.single_node, self.nodes, self.graph_inputs, self.graph_outputs,
            self.variant, self.leading_dim,
        )  # fmt: skip
