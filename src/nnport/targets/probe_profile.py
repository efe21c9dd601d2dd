"""Derive a TargetProfile from probe outcomes: which (op, version, dtypes, modes) converted and matched.

Evidence rules (documented in docs/probe.md):
- every node of a *passing* case (single node, expanded function body or control-flow body) is
  supported at its operator version with the dtypes it saw;
- a failing *single-node* case blames its one operator: a dtype at an input/output position that
  failed and never passed restricts that position to the dtypes that passed; a string attribute
  value (Resize mode, ...) that failed and never passed restricts the attribute to passing values;
- a graph input/output type seen only in failing cases is refused at the graph boundary;
- a failing single-node case nothing above explains blames finer things: integer attribute
  values (any value of an attribute no passing case set: ``["*"]``), an (input 0, output 0)
  dtype pair, inputs fed at run time, each never seen passing; failing those, the last
  optional input no passing case gave (``absent_inputs``), fewer inputs than every passing case
  gave (``min_inputs``), a rank above every passing one that the converter refused
  (``max_rank``), or a switch value never passing with the case's input dtype (the op's entry
  split by input-0 dtype);
- an operator version with no passing case is not listed (``unlisted_ops = "unsupported"``);
- ncnn: a failure with inputs whose first axis is not 1 is no evidence against its op (the
  case's batch-one variant is); ops that passed with such inputs are ``[graph] batch_free_ops``.
"""

from __future__ import annotations

import collections
import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path

from nnport.targets.batch_axis import PNNX_BATCH_ANCHORS
from nnport.targets.probe import CaseOutcome, ProbeResult
from nnport.targets.probe_batch import batch_free_ops
from nnport.targets.probe_graph import graph_io_denied, graph_rules, io_explains, valid_dtype
from nnport.targets.probe_nodes import NodeUse
from nnport.targets.probe_schema import optional_inputs, parameters, schema_dtypes, schema_of
from nnport.targets.probe_versions import (
    _next_probed,
    _untested_newer,
    _untested_older,
    _version_range,
    same_inputs,
)
from nnport.targets.profile import (
    IO_KINDS,
    OpRule,
    Source,
    TargetProfile,
    VersionRange,
    canonical_domain,
)
from nnport.targets.profile_write import dump_profile

ANY_VALUE = '"*"'  # forbidden_attributes: the attribute set at all, with any value (JSON text)
_DESCRIPTIONS = {
    "onnxruntime": "ONNX Runtime CPU (probed with the ONNX node suite)",
    "openvino": "OpenVINO CPU plugin, f32 inference precision (probed with the ONNX node suite)",
    "ncnn": "ncnn through pnnx (probed with the ONNX node suite)",
}


@dataclasses.dataclass
class _Evidence:
    """What the outcomes say about one (domain, op, since_version)."""

    passes: int = 0
    fails: int = 0
    ok_in: dict[int, set[str]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(set)
    )
    ok_out: dict[int, set[str]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(set)
    )
    bad_in: dict[int, set[str]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(set)
    )
    bad_out: dict[int, set[str]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(set)
    )
    ok_attr: dict[str, set[str]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(set)
    )
    bad_attr: dict[str, set[str]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(set)
    )
    note: str = ""
    const_ok: set[int] = dataclasses.field(default_factory=set)  # positions constant in a pass
    dynamic_ok: set[int] = dataclasses.field(default_factory=set)  # positions fed at run time
    ok_int: dict[str, set[str]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(set)
    )
    const_any: set[int] = dataclasses.field(default_factory=set)  # constant in any passing case
    dynamic_any: set[int] = dataclasses.field(default_factory=set)  # fed at run time in a pass
    failed: list[NodeUse] = dataclasses.field(default_factory=list)  # failing single-node uses
    ok_pairs: set[tuple[str, str]] = dataclasses.field(default_factory=set)  # (in 0, out 0) dtypes
    given_ok: set[int] = dataclasses.field(default_factory=set)  # input positions given in a pass
    fewest_ok: int = 1 << 30  # the fewest inputs a passing use gave
    ok_rank: int = -1  # the highest tensor rank of a passing use (-1: none known)
    refused: set[int] = dataclasses.field(default_factory=set)  # failed: the converter refused
    non_tensor_fails: int = 0  # failing cases that fed or returned a sequence/optional/map
    ok_combos: set[tuple[str, str, str]] = dataclasses.field(default_factory=set)  # (n, v, in 0)


def _record(table: dict[int, set[str]], dtypes: Iterable[str]) -> None:
    for i, name in enumerate(dtypes):
        valid = valid_dtype(name)
        if valid:
            table[i].add(valid)


def _restricted(
    ok: dict[int, set[str]], bad: dict[int, set[str]], key: tuple[str, str, int], side: str
) -> dict[str, tuple[str, ...]]:
    """Allowlists only where some dtype failed and never passed: every dtype the schema allows
    except those (so a dtype the suite never tried is not refused), or the passing ones when the
    schema's list is unknown."""
    table = {}
    for pos, failed in bad.items():
        never = failed - ok.get(pos, set())
        if never and ok.get(pos):
            allowed = (schema_dtypes(key, side, pos) | ok[pos]) - never
            table[str(pos)] = tuple(sorted(allowed))
    return table


def gather_evidence(
    outcomes: Iterable[CaseOutcome], io_denied: tuple[set[str], set[str]] = (set(), set())
) -> dict[tuple[str, str, int], _Evidence]:
    """Per (domain, op, since_version): passing and failing dtypes and attributes, constant
    inputs, and the failing single-node uses that graph I/O types (``io_denied``) do not explain."""
    evidence: dict[tuple[str, str, int], _Evidence] = collections.defaultdict(_Evidence)

    def key(use: NodeUse) -> tuple[str, str, int]:
        return canonical_domain(use.domain), use.op, use.version

    for outcome in outcomes:
        if outcome.status == "pass":
            for use in outcome.nodes:
                ev = evidence[key(use)]
                ev.passes += 1
                _record(ev.ok_in, use.inputs)
                _record(ev.ok_out, use.outputs)
                for name, value in use.attributes:
                    ev.ok_attr[name].add(value)
                first = valid_dtype(use.inputs[0]) if use.inputs else None
                for name, value in use.int_attributes:
                    ev.ok_int[name].add(value)
                    ev.ok_combos.add((name, value, first or ""))
                if _pair(use):
                    ev.ok_pairs.add(_pair(use))  # type: ignore[arg-type]
                ev.const_any.update(use.constant)
                ev.given_ok.update(i for i, d in enumerate(use.inputs) if d)
                ev.fewest_ok = min(ev.fewest_ok, sum(1 for d in use.inputs if d))
                ev.ok_rank = max(ev.ok_rank, use.rank)
                ev.dynamic_any.update(
                    i for i, d in enumerate(use.inputs) if d and i not in use.constant
                )
                if outcome.single_node:
                    ev.const_ok.update(use.constant)
                    ev.dynamic_ok.update(
                        i for i, d in enumerate(use.inputs) if d and i not in use.constant
                    )
        elif (
            outcome.status in ("fail", "crash", "timeout") and outcome.single_node and outcome.nodes
        ):
            use = outcome.nodes[0]
            ev = evidence[key(use)]
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


def _pair(use: NodeUse) -> tuple[str, str] | None:
    """(input 0 dtype, output 0 dtype) of a node, when both are tensor dtypes."""
    first_in = valid_dtype(use.inputs[0]) if use.inputs else None
    first_out = valid_dtype(use.outputs[0]) if use.outputs else None
    return (first_in, first_out) if first_in and first_out else None


@dataclasses.dataclass
class _Limits:
    """What the unexplained failures of one (domain, op, version) are blamed on."""

    forbidden: dict[str, set[str]]  # attribute -> refused values (JSON text)
    constant: set[int]  # input positions that must be constant
    pairs: set[tuple[str, str]]  # refused (input 0, output 0) dtype pairs
    not_given: set[int]  # optional input positions the target cannot take
    max_rank: int | None  # the highest rank that passed, when a higher one failed
    min_inputs: int = 0  # one more than the most inputs that failed, when fewer than any pass
    # input 0 dtype -> switch values refused with it alone (Mod-28 fmod=0 with floats on OpenVINO)
    combos: dict[str, dict[str, set[str]]] = dataclasses.field(default_factory=dict)


def _finer_limits(ev: _Evidence, key: tuple[str, str, int]) -> _Limits:
    """Integer attribute values and run-time inputs that a failure can only be blamed on.

    A failing single-node case whose dtypes and string attributes all passed elsewhere (and
    whose graph I/O types are accepted) failed on something finer: its integer attribute values
    that never passed are refused (``forbidden_attributes``; switches when there are any, else
    scalar values), so is its (input 0, output 0) dtype pair if that never passed
    (``forbidden_dtype_pairs``), and each input it fed at run time that passed only as a
    constant becomes a ``constant_inputs`` position. With nothing else to blame, the last
    optional input it gave that no passing case gave becomes an ``absent_inputs`` position;
    failing that, fewer inputs than every passing case gave set ``min_inputs``, or a rank above
    every passing one that the converter refused sets ``max_rank``.
    """
    forbidden: dict[str, set[str]] = collections.defaultdict(set)
    constant: set[int] = set()
    pairs: set[tuple[str, str]] = set()
    not_given: set[int] = set()
    max_rank: int | None = None
    min_inputs = 0
    combos: dict[str, dict[str, set[str]]] = {}
    seen = collections.defaultdict(set, {n: set(v) for n, v in ev.ok_int.items()})
    for use in ev.failed:
        for name, value in use.int_attributes:
            seen[name].add(value)  # a switch is an attribute only ever seen as 0 or 1
    optional = optional_inputs(key)
    for at, use in enumerate(ev.failed):
        # optional inputs no passing case gave (Dropout's training_mode on OpenVINO): their
        # dtypes "never passed" too, but no dtype list can refuse a position nothing passed at
        never = sorted(i for i, d in enumerate(use.inputs)
                       if d and i not in ev.given_ok and i in optional)  # fmt: skip
        explained = (
            any(
                valid_dtype(d) and valid_dtype(d) not in ev.ok_in.get(i, set())
                for i, d in enumerate(use.inputs)
                if i not in never
            )
            or any(  # an optional output no passing case produced is not judged by dtype
                valid_dtype(d) and i in ev.ok_out and valid_dtype(d) not in ev.ok_out[i]
                for i, d in enumerate(use.outputs)
            )
            or any(value not in ev.ok_attr.get(name, set()) for name, value in use.attributes)
        )
        if explained:
            continue
        pair = _pair(use)
        if pair and pair not in ev.ok_pairs and 0 in ev.ok_out:  # output 0 produced in a pass
            pairs.add(pair)  # Cast float32 -> float64, where each type passed on its own
        unseen = [(n, v) for n, v in use.int_attributes if v not in ev.ok_int.get(n, set())]
        # A scalar attribute no passing case set at all (it has no default: ignore_index) is
        # refused with any value; a list one with the failing value only, and never all ones
        # (MaxPool's dilations: exporters write [1, 1] where the failing case sets [2, 2]).
        # Else blame switches (0/1: keepdims, ceil_mode, layout, antialias) before sizes and
        # counts (hidden_size, num_heads), and never integer lists that passed with other
        # values (kernel shapes, pads): that would refuse real models that merely differ.
        absent = [(n, ANY_VALUE if v[0] != "[" else v) for n, v in unseen
                  if n not in ev.ok_int and not _all_ones(v)]  # fmt: skip
        flags = [(n, v) for n, v in unseen if seen[n] <= {"0", "1"}]
        blamed = absent or flags or [(n, v) for n, v in unseen if v[0] != "["]
        for name, value in blamed:
            forbidden[name].add(value)
        if never and not blamed:
            # the last one only: a case adds optional inputs in order to test the last
            # (LSTM's peepholes P come with sequence_lens, initial_h and initial_c)
            not_given.add(never[-1])
        elif not blamed and (given := sum(1 for d in use.inputs if d)) < ev.fewest_ok:
            # every passing case gave more: ncnn's Split-13 crashes without 'split', its Sum
            # with one input (refused up to the count that failed, not up to the passing one)
            min_inputs = max(min_inputs, given + 1)
        elif not blamed and 0 < ev.ok_rank < use.rank and at in ev.refused:
            # the converter refused it (5-D GridSample on OpenVINO, where 4-D passed); a wrong
            # result is not blamed on the rank (OpenVINO's 4-D Tile is wrong only with repeats
            # fed at run time, and right with constant ones)
            max_rank = ev.ok_rank
        elif not blamed and (first := valid_dtype(use.inputs[0]) if use.inputs else None):
            # every value passed, but not with this input dtype: refuse the switch with it only
            for name, value in use.int_attributes:
                if seen[name] <= {"0", "1"} and (name, value, first) not in ev.ok_combos:
                    combos.setdefault(first, {}).setdefault(name, set()).add(value)
        constant.update(
            i for i, d in enumerate(use.inputs)
            if d and i not in use.constant and i in ev.const_any and i not in ev.dynamic_any
        )  # fmt: skip
    return _Limits(
        dict(forbidden), set(parameters(key, constant)), pairs, not_given, max_rank,
        min_inputs, combos,
    )  # fmt: skip


def _all_ones(text: str) -> bool:
    """An integer list of ones ('[1,1]'): the identity value of strides and dilations."""
    return text.startswith("[") and set(json.loads(text)) <= {1}


def _older_too(
    evidence: dict[tuple[str, str, int], _Evidence],
    found: dict[tuple[str, str, int], dict[str, set[str]]],
) -> None:
    """An integer attribute value refused at a newer version of an op is refused at an older
    one where it never passed (and the attribute exists): the older version's cases often ran
    only inside multi-node graphs, which blame no single node."""
    for key, ev in evidence.items():
        domain, op, since = key
        schema = schema_of(key)
        if schema is None:
            continue
        names = set(schema.attributes)
        for (d, o, later), values in list(found.items()):
            if (d, o) != (domain, op) or later <= since:
                continue
            for name, refused in values.items():
                if ANY_VALUE in refused and name in ev.ok_int:
                    refused = refused - {ANY_VALUE}  # set with some value here and passed
                extra = {v for v in refused if v not in ev.ok_int.get(name, set())}
                if name in names and extra:
                    found.setdefault(key, {}).setdefault(name, set()).update(extra)


def _as_values(found: dict[str, set[str]]) -> dict[str, tuple[object, ...]]:
    return {
        name: tuple(json.loads(v) for v in sorted(texts, key=lambda t: (len(t), t)))
        for name, texts in sorted(found.items())
    }


def derive_rules(outcomes: Iterable[CaseOutcome], constants: bool = False) -> list[OpRule]:
    """One OpRule per (domain, op, operator version) that passed at least one case.

    With ``constants`` (the probe froze integer inputs into initializers, as for ncnn), an
    input position that passed only as a constant is listed under ``constant_inputs``.
    """
    outcomes = list(outcomes)
    rules = []
    evidence = gather_evidence(outcomes, graph_io_denied(outcomes))
    renumbered = set()  # untested versions whose inputs differ from the version they copy
    for key in _untested_older(evidence):
        like = _next_probed(evidence, key)
        evidence[key] = dataclasses.replace(evidence[like], fails=0)
        evidence[key].note = "not probed (no node-suite case converts to it); as the next version"
        if not same_inputs(key, like):
            renumbered.add(key)
    for key, like in _untested_newer(evidence):
        evidence[key] = dataclasses.replace(evidence[like], fails=0)
        evidence[
            key
        ].note = f"not probed with tensors; as version {like[2]} (same attributes and inputs)"
    limits = {key: _finer_limits(ev, key) for key, ev in evidence.items() if ev.passes}
    for key in renumbered:  # limits on input positions and counts do not carry over
        limits[key] = dataclasses.replace(limits[key], not_given=set(), min_inputs=0)
    refused = {key: found.forbidden for key, found in limits.items() if found.forbidden}
    _older_too({k: ev for k, ev in evidence.items() if ev.passes}, refused)
    for (domain, op, since), ev in sorted(evidence.items()):
        if not ev.passes:
            continue
        attrs = {
            name: tuple(sorted(ev.ok_attr[name]))
            for name, failed in sorted(ev.bad_attr.items())
            if failed - ev.ok_attr.get(name, set()) and ev.ok_attr.get(name)
        }
        found = limits[(domain, op, since)]
        forbidden = _as_values(refused.get((domain, op, since), {}))
        frozen = (
            set(parameters((domain, op, since), ev.const_ok - ev.dynamic_ok))
            if constants
            else set()
        )
        note = ev.note or f"probe: {ev.passes} passing, {ev.fails} failing single-node cases"
        rule = OpRule(
            op=op,
            domain=domain,
            versions=(_version_range(op, domain, since),),
            input_dtypes=_restricted(ev.ok_in, ev.bad_in, (domain, op, since), "in"),
            output_dtypes=_restricted(ev.ok_out, ev.bad_out, (domain, op, since), "out"),
            attributes=attrs,
            forbidden_attributes=forbidden,
            forbidden_dtype_pairs=tuple(sorted(found.pairs)),
            constant_inputs=tuple(sorted(frozen | found.constant)),
            absent_inputs=tuple(sorted(found.not_given)),
            min_inputs=found.min_inputs,
            max_rank=found.max_rank,
            note=note,
        )
        rules += _split_by_dtype(rule, found.combos, ev) if found.combos else [rule]
    return rules


def _split_by_dtype(
    rule: OpRule, combos: dict[str, dict[str, set[str]]], ev: _Evidence
) -> list[OpRule]:
    """The rule as entries by input 0 dtype: one for the dtypes with no refused combination,
    one per group of dtypes refusing the same switch values (a node is accepted when any
    entry accepts it, so Mod-28 stays open to integers with fmod=0 and closed to floats)."""
    key = (rule.domain, rule.op, rule.versions[0].lo)
    allowed = set(OpRule.dtypes_at(rule.input_dtypes, 0) or schema_dtypes(key, "in", 0))
    allowed |= ev.ok_in.get(0, set())
    groups: dict[str, set[str]] = collections.defaultdict(set)
    for dtype, values in combos.items():
        groups[json.dumps({n: sorted(v) for n, v in sorted(values.items())})].add(dtype)
    base = dict(rule.input_dtypes, **{"0": tuple(sorted(allowed - set(combos)))})
    split = [dataclasses.replace(rule, input_dtypes=base)]
    for text, dtypes in sorted(groups.items()):
        refused = dict(rule.forbidden_attributes)
        for name, values in json.loads(text).items():
            refused[name] = tuple(sorted({*refused.get(name, ()), *map(json.loads, values)}))
        split.append(dataclasses.replace(
            rule, input_dtypes=dict(rule.input_dtypes, **{"0": tuple(sorted(dtypes))}),
            forbidden_attributes=refused,
            note=f"{rule.note}; with these input dtypes only",
        ))  # fmt: skip
    return split


def evidence(result: ProbeResult) -> list[CaseOutcome]:
    """The outcomes the derivation reads. On ncnn, a case that failed with a first axis other
    than 1 says nothing about its op's dtypes or attributes: the rule batch-not-one owns it (its
    batch-one variant speaks for the op); unless its op passed with such an axis too, which the
    rule then lets through."""
    if result.backend != "ncnn":
        return list(result.outcomes)
    free = set(batch_free_ops(result.outcomes))
    return [o for o in result.outcomes
            if o.status == "pass" or o.variant or o.leading_dim <= 1 or o.op in free]  # fmt: skip


def derive_profile(result: ProbeResult, name: str | None = None) -> TargetProfile:
    """The profile the probe's outcomes support (see the module docstring for the rules)."""
    passed = [o for o in result.outcomes if o.status == "pass"]
    lo = min((o.opset for o in passed), default=1)
    hi = max((o.opset for o in passed), default=lo)
    converted = any(o.opset != o.original_opset for o in result.outcomes)
    if not converted:  # cases ran only at their own opsets: older opsets were not tested
        lo = 1
    opsets: dict[str, VersionRange] = {"ai.onnx": VersionRange(max(lo, 1), hi)}
    for o in passed:
        for use in o.nodes:
            dom = canonical_domain(use.domain)
            if dom != "ai.onnx" and dom not in opsets:
                opsets[dom] = VersionRange(1, None)
    own = result.at_own_opset()
    ncnn = result.backend == "ncnn"
    outcomes = evidence(result)
    counts = collections.Counter(o.status for o in own)
    notes = (
        f"Node suite at the cases' own opsets: {result.passed} of {result.cases} cases pass "
        f"({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}).",
        f"Runs in total (including cases converted to opsets {sorted({o.opset for o in result.outcomes if o.opset != o.original_opset}, reverse=True)}): "
        f"{sum(o.status == 'pass' for o in result.outcomes)} pass of "
        f"{sum(o.status != 'unconvertible' for o in result.outcomes)}.",
        "Options: " + ", ".join(f"{k}={v}" for k, v in sorted(result.options.items())),
        "Regenerate: nnport targets probe --backend " + result.backend + " -o PROFILE",
    ) + (
        ()
        if converted
        else ("Cases ran at their own opsets only; older opsets are assumed, not probed.",)
    )
    return TargetProfile(
        name=name or result.backend,
        description=_DESCRIPTIONS.get(result.backend, result.backend),
        date=result.date,
        source=Source(probe=result.source),
        opsets=opsets,
        # pnnx converts for the given static input shapes and folds constant subgraphs
        # (Shape -> Gather -> Concat chains, Casts of constants) itself.
        graph=graph_rules(
            outcomes,
            static_shapes=ncnn,
            folds_constants=ncnn,
            # pnnx learns the batch axis from these ops (nnport.targets.batch_axis, measured)
            batch_anchor_ops=PNNX_BATCH_ANCHORS if ncnn else (),
            batch_free_ops=batch_free_ops(outcomes) if ncnn else (),
        ),
        ops=tuple(derive_rules(outcomes, constants=ncnn)),
        unlisted_ops="unsupported",
        expands_functions=False,
        notes=notes,
    )


def write_profile(result: ProbeResult, out: Path, name: str | None = None) -> Path:
    """Derive the profile and write it with the schema's validating, atomic ``dump_profile``."""
    from nnport.targets.defects import add_defects

    profile = derive_profile(result, name or (out.stem if out.suffix == ".toml" else None))
    profile = add_defects(profile, result.backend)
    header = (
        f"Generated by `nnport targets probe --backend {result.backend}` ({result.source});\n"
        "do not edit by hand: rerun the probe after upgrading the runtime (see docs/probe.md)."
    )
    return dump_profile(profile, out, header=header)
