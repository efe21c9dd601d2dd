"""What the probe's outcomes say about each (domain, op, version): the dtypes, attributes,
inputs and ranks its passing cases used, and its failing single-node uses (rules: the module
docstring of ``nnport.probe.derive``)."""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable
from typing import Any

from nnport.model.dtypes import valid_dtype
from nnport.probe.exporter import PREFIX
from nnport.probe.graph import io_explains
from nnport.probe.nodes import NodeUse
from nnport.probe.outcomes import CaseOutcome
from nnport.targets.profile import IO_KINDS, MODE_ONLY, canonical_domain


def _sets() -> collections.defaultdict[Any, set[str]]:
    """An empty table of sets (the default of Evidence's per-position and per-name tables)."""
    return collections.defaultdict(set)


@dataclasses.dataclass
class Evidence:
    """What the outcomes say about one (domain, op, since_version)."""

    passes: int = 0
    fails: int = 0
    single_passes: int = 0  # passing single-node cases (the op itself ran)
    ok_in: dict[int, set[str]] = dataclasses.field(default_factory=_sets)
    ok_out: dict[int, set[str]] = dataclasses.field(default_factory=_sets)
    bad_in: dict[int, set[str]] = dataclasses.field(default_factory=_sets)
    bad_out: dict[int, set[str]] = dataclasses.field(default_factory=_sets)
    ok_attr: dict[str, set[str]] = dataclasses.field(default_factory=_sets)
    bad_attr: dict[str, set[str]] = dataclasses.field(default_factory=_sets)
    note: str = ""
    always_set: set[str] | None = None  # attribute names every passing use had (None: no pass)
    const_ok: set[int] = dataclasses.field(default_factory=set)  # positions constant in a pass
    dynamic_ok: set[int] = dataclasses.field(default_factory=set)  # positions fed at run time
    ok_float: dict[str, set[str]] = dataclasses.field(default_factory=_sets)
    ok_int: dict[str, set[str]] = dataclasses.field(default_factory=_sets)
    const_any: set[int] = dataclasses.field(default_factory=set)  # constant in any passing case
    dynamic_any: set[int] = dataclasses.field(default_factory=set)  # fed at run time in a pass
    failed: list[NodeUse] = dataclasses.field(default_factory=list)  # failing single-node uses
    ok_pairs: set[tuple[str, str]] = dataclasses.field(default_factory=set)  # (in 0, out 0) dtypes
    given_ok: set[int] = dataclasses.field(default_factory=set)  # input positions given in a pass
    fewest_ok: int = 1 << 30  # the fewest inputs a passing use gave
    most_ok: int = 0  # the most inputs a passing use gave
    ok_rank: int = -1  # the highest tensor rank of a passing use (-1: none known)
    refused: set[int] = dataclasses.field(default_factory=set)  # failed: the converter refused
    non_tensor_fails: int = 0  # failing cases that fed or returned a sequence/optional/map
    ok_combos: set[tuple[str, str, str]] = dataclasses.field(default_factory=set)  # (n, v, in 0)
    suite: bool = False  # a node-suite case (not only nnport's exporter cases) speaks for it
    joined: str = ""  # the note of exporter-only evidence joined to a suite version's
    # the string attribute values of each passing use, as judged (``judged_strings``)
    ok_strings: set[frozenset[tuple[str, str]]] = dataclasses.field(default_factory=set)


def _record(table: dict[int, set[str]], dtypes: Iterable[str]) -> None:
    for i, name in enumerate(dtypes):
        valid = valid_dtype(name)
        if valid:
            table[i].add(valid)


def gather_evidence(
    outcomes: Iterable[CaseOutcome], io_denied: tuple[set[str], set[str]] = (set(), set())
) -> dict[tuple[str, str, int], Evidence]:
    """Per (domain, op, since_version): passing and failing dtypes and attributes, constant
    inputs, and the failing single-node uses that graph I/O types (``io_denied``) do not explain."""
    evidence: dict[tuple[str, str, int], Evidence] = collections.defaultdict(Evidence)

    def key(use: NodeUse) -> tuple[str, str, int]:
        return canonical_domain(use.domain), use.op, use.version

    for outcome in outcomes:
        from_suite = not outcome.case.startswith(PREFIX)
        if outcome.status == "pass":
            for use in outcome.nodes:
                ev = evidence[key(use)]
                ev.suite |= from_suite
                ev.passes += 1
                _record(ev.ok_in, use.inputs)
                _record(ev.ok_out, use.outputs)
                for name, value in use.attributes:
                    ev.ok_attr[name].add(value)
                ev.ok_strings.add(judged_strings(use))
                first = valid_dtype(use.inputs[0]) if use.inputs else None
                for name, value in use.int_attributes:
                    ev.ok_int[name].add(value)
                    ev.ok_combos.add((name, value, first or ""))
                for name, value in use.float_attributes:
                    ev.ok_float[name].add(value)
                names = attribute_names(use)
                ev.always_set = names if ev.always_set is None else ev.always_set & names
                if pair_of(use):
                    ev.ok_pairs.add(pair_of(use))  # type: ignore[arg-type]
                ev.const_any.update(use.constant)
                ev.given_ok.update(i for i, d in enumerate(use.inputs) if d)
                ev.fewest_ok = min(ev.fewest_ok, sum(1 for d in use.inputs if d))
                ev.most_ok = max(ev.most_ok, sum(1 for d in use.inputs if d))
                ev.ok_rank = max(ev.ok_rank, use.rank)
                ev.dynamic_any.update(
                    i for i, d in enumerate(use.inputs) if d and i not in use.constant
                )
                if outcome.single_node:
                    ev.single_passes += 1
                    ev.const_ok.update(use.constant)
                    ev.dynamic_ok.update(
                        i for i, d in enumerate(use.inputs) if d and i not in use.constant
                    )
        elif (
            outcome.status in ("fail", "crash", "timeout") and outcome.single_node and outcome.nodes
        ):
            use = outcome.nodes[0]
            ev = evidence[key(use)]
            ev.suite |= from_suite
            ev.fails += 1
            if any(d in IO_KINDS for d in (*use.inputs, *use.outputs)):
                ev.non_tensor_fails += 1
            _record(ev.bad_in, use.inputs)
            _record(ev.bad_out, use.outputs)
            for name, value in use.attributes:
                ev.bad_attr[name].add(value)
            if not io_explains(outcome, io_denied):
                ev.failed.append(use)
                if outcome.stage == "convert":
                    ev.refused.add(len(ev.failed) - 1)
    return evidence


def judged_strings(use: NodeUse) -> frozenset[tuple[str, str]]:
    """A use's string attribute values, less those its mode does not use (``MODE_ONLY``:
    Resize's nearest_mode outside mode="nearest"), as check judges them."""
    mode = dict(use.attributes).get("mode")
    return frozenset(
        (name, value) for name, value in use.attributes
        if MODE_ONLY.get((use.op, name)) in (None, mode)
    )  # fmt: skip


def attribute_names(use: NodeUse) -> set[str]:
    """The names of the attributes a use has (set or defaulted by the schema)."""
    return {n for n, _ in (*use.attributes, *use.int_attributes, *use.float_attributes)}


def pair_of(use: NodeUse) -> tuple[str, str] | None:
    """(input 0 dtype, output 0 dtype) of a node, when both are tensor dtypes."""
    first_in = valid_dtype(use.inputs[0]) if use.inputs else None
    first_out = valid_dtype(use.outputs[0]) if use.outputs else None
    return (first_in, first_out) if first_in and first_out else None


def combined(base: Evidence, extra: Evidence) -> Evidence:
    """The evidence of ``base`` and ``extra`` together: counts added, value sets joined, the
    attributes every pass set intersected, the input-count and rank bounds widened."""
    merged = Evidence()
    for field in dataclasses.fields(Evidence):
        a, b = getattr(base, field.name), getattr(extra, field.name)
        if field.name == "always_set":
            value: Any = b if a is None else a if b is None else a & b
        elif field.name == "fewest_ok":
            value = min(a, b)
        elif field.name in ("most_ok", "ok_rank"):
            value = max(a, b)
        elif field.name == "refused":  # indices into failed: extra's come after base's
            value = a | {len(base.failed) + i for i in b}
        elif isinstance(a, bool):
            value = a or b
        elif isinstance(a, (int, str)):
            value = a + b if isinstance(a, int) else b or a
        elif isinstance(a, dict):
            value = _sets()
            for k in (*a, *b):
                value[k] = set(a.get(k, ())) | set(b.get(k, ()))
        else:  # sets and the list of failed uses
            value = a | b if isinstance(a, set) else [*a, *b]
        setattr(merged, field.name, value)
    return merged
