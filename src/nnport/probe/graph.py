"""Graph-wide rules a probe's outcomes support: graph input/output types never seen passing."""

from __future__ import annotations

from collections.abc import Iterable

import onnx_ir as ir

from nnport.model.dtypes import dtype_name, valid_dtype
from nnport.probe.outcomes import CaseOutcome
from nnport.targets.profile import IO_KINDS, GraphRules


def graph_io_denied(outcomes: Iterable[CaseOutcome]) -> tuple[set[str], set[str]]:
    """Graph input and output element types that occur in failing cases and in no passing one
    (ONNX Runtime's Python API, for example, cannot feed or return bfloat16 or float8)."""
    ok_in: set[str] = set()
    ok_out: set[str] = set()
    bad_in: set[str] = set()
    bad_out: set[str] = set()
    for o in outcomes:
        if o.status == "pass":
            ok_in.update(o.graph_inputs)
            ok_out.update(o.graph_outputs)
        elif o.status in ("fail", "crash", "timeout"):
            bad_in.update(o.graph_inputs)
            bad_out.update(o.graph_outputs)
    return (
        {d for d in bad_in - ok_in if valid_dtype(d) or d in IO_KINDS},
        {d for d in bad_out - ok_out if valid_dtype(d) or d in IO_KINDS},
    )


def io_explains(outcome: CaseOutcome, denied: tuple[set[str], set[str]]) -> bool:
    return bool(denied[0] & set(outcome.graph_inputs) or denied[1] & set(outcome.graph_outputs))


def io_allowlist(denied: set[str]) -> tuple[str, ...]:
    """Every tensor element type except ``denied`` (empty when nothing is denied)."""
    if not denied:
        return ()
    names = {dtype_name(d) for d in ir.DataType if d != ir.DataType.UNDEFINED}
    refused = {valid_dtype(d) for d in denied} - {None}
    return tuple(sorted(names - refused)) if refused else ()


def graph_rules(
    outcomes: Iterable[CaseOutcome],
    static_shapes: bool,
    folds_constants: bool = False,
    batch_anchor_ops: tuple[str, ...] = (),
    batch_free_ops: tuple[str, ...] = (),
) -> GraphRules:
    """Graph-wide rules the outcomes support: graph I/O element types that never passed are
    refused (``[graph] input_dtypes`` / ``output_dtypes`` list every other type), and so are
    sequence, optional or map graph inputs and outputs (``refused_io_kinds``)."""
    denied_in, denied_out = graph_io_denied(outcomes)
    return GraphRules(
        refused_io_kinds=tuple(k for k in IO_KINDS if k in denied_in | denied_out),
        input_dtypes=io_allowlist(denied_in),
        output_dtypes=io_allowlist(denied_out),
        static_shapes=static_shapes,
        int64="native",
        folds_constants=folds_constants,
        batch_anchor_ops=batch_anchor_ops,
        batch_free_ops=batch_free_ops,
    )
