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

from nnport.check.batch_axis import PNNX_BATCH_ANCHORS
from nnport.model.schema import parameters, schema_dtypes
from nnport.probe.batch import batch_free_ops
from nnport.probe.evidence import Evidence, combined, gather_evidence
from nnport.probe.exporter import PREFIX
from nnport.probe.graph import graph_io_denied, graph_rules
from nnport.probe.limits import finer_limits, older_too
from nnport.probe.outcomes import CaseOutcome, ProbeResult
from nnport.probe.versions import (
    _next_probed,
    _untested_newer,
    _untested_older,
    _version_range,
    leading_inputs,
    same_inputs,
)
from nnport.targets.profile import (
    OpRule,
    Source,
    TargetProfile,
    VersionRange,
    canonical_domain,
)
from nnport.targets.profile_write import dump_profile

_DESCRIPTIONS = {
    "onnxruntime": "ONNX Runtime CPU (probed with the ONNX node suite)",
    "openvino": "OpenVINO CPU plugin, f32 inference precision (probed with the ONNX node suite)",
    "ncnn": "ncnn through pnnx (probed with the ONNX node suite)",
}


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


def _as_values(found: dict[str, set[str]]) -> dict[str, tuple[object, ...]]:
    return {
        name: tuple(json.loads(v) for v in sorted(texts, key=lambda t: (len(t), t)))
        for name, texts in sorted(found.items())
    }


def with_suite_evidence(evidence: dict[tuple[str, str, int], Evidence]) -> None:
    """Give an op version that only nnport's exporter cases reached (Resize-11 and -13, as torch
    exports them) the evidence of the next version the suite reached, when the inputs mean the
    same: what the exporter cases show is added to what the suite showed, not put in its place
    (four passing cases alone would limit nothing). The newer version may add inputs at the
    end (Pad-18's axes)."""
    suite = {key for key, ev in evidence.items() if ev.suite and ev.passes}
    for (domain, op, since), ev in list(evidence.items()):
        if ev.suite or not ev.passes:
            continue
        newer = sorted(v for d, o, v in suite if (d, o) == (domain, op) and v > since)
        like = (domain, op, newer[0]) if newer else None
        if like is None or not leading_inputs((domain, op, since), like):
            continue
        joined = combined(evidence[like], ev)
        # a note of its own, not ``note``: older untested versions may take this one as theirs
        joined.joined = f"probe: {ev.passes} passing exporter cases; otherwise as version {like[2]}"
        evidence[(domain, op, since)] = joined


def derive_rules(outcomes: Iterable[CaseOutcome], constants: bool = False) -> list[OpRule]:
    """One OpRule per (domain, op, operator version) that passed at least one case.

    With ``constants`` (the probe froze integer inputs into initializers, and the converter
    folds constant subgraphs, as for ncnn), an input position that passed only as a constant is
    listed under ``constant_inputs``, and dtypes are limited only for an op version with a
    passing single-node case: a pass inside a larger graph may be shape arithmetic the
    converter folded (ncnn's Gather passed only on int64 shapes that way, and runs float).
    """
    outcomes = list(outcomes)
    rules = []
    evidence = gather_evidence(outcomes, graph_io_denied(outcomes))
    with_suite_evidence(evidence)
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
    limits = {key: finer_limits(ev, key) for key, ev in evidence.items() if ev.passes}
    for key in renumbered:  # limits on input positions and counts do not carry over
        limits[key] = dataclasses.replace(
            limits[key], not_given=set(), min_inputs=0, max_inputs=None
        )
    refused = {key: found.forbidden for key, found in limits.items() if found.forbidden}
    older_too({k: ev for k, ev in evidence.items() if ev.passes}, refused)
    for (domain, op, since), ev in sorted(evidence.items()):
        if not ev.passes:
            continue
        found = limits[(domain, op, since)]
        attrs: dict[str, tuple[object, ...]] = {
            name: tuple(sorted(ev.ok_attr[name]))
            for name, failed in sorted(ev.bad_attr.items())
            if failed - ev.ok_attr.get(name, set()) and ev.ok_attr.get(name)
        }
        attrs.update({name: tuple(sorted(float(v) for v in allowed))
                      for name, allowed in sorted(found.floats.items())})  # fmt: skip
        forbidden = _as_values(refused.get((domain, op, since), {}))
        frozen = (
            set(parameters((domain, op, since), ev.const_ok - ev.dynamic_ok))
            if constants
            else set()
        )
        note = (
            ev.note
            or ev.joined
            or f"probe: {ev.passes} passing, {ev.fails} failing single-node cases"
        )
        ran = ev.single_passes or not constants  # the op itself ran in a passing case
        rule = OpRule(
            op=op,
            domain=domain,
            versions=(_version_range(op, domain, since),),
            input_dtypes=_restricted(ev.ok_in, ev.bad_in, (domain, op, since), "in") if ran else {},
            output_dtypes=_restricted(ev.ok_out, ev.bad_out, (domain, op, since), "out")
            if ran
            else {},
            attributes=attrs,
            forbidden_attributes=forbidden,
            forbidden_combinations=tuple(sorted(found.together)),
            forbidden_dtype_pairs=tuple(sorted(found.pairs)),
            constant_inputs=tuple(sorted(frozen | found.constant)),
            absent_inputs=tuple(sorted(found.not_given)),
            min_inputs=found.min_inputs,
            max_inputs=found.max_inputs,
            required_attributes=tuple(sorted(found.required)),
            max_rank=found.max_rank,
            note=note,
        )
        rules += _split_by_dtype(rule, found.combos, ev) if found.combos else [rule]
    return rules


def _split_by_dtype(
    rule: OpRule, combos: dict[str, dict[str, set[str]]], ev: Evidence
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
    rule then lets through. Nor does a failure with a tensor of no elements (``NodeUse.empty``):
    the defect empty-tensor owns it (else Reshape's allowzero=1, which torch's dynamo exports
    write, is blamed for a crash on a zero-size tensor)."""
    if result.backend != "ncnn":
        return list(result.outcomes)
    free = set(batch_free_ops(result.outcomes))
    return [o for o in result.outcomes
            if o.status == "pass" or (
                (o.variant or o.leading_dim <= 1 or o.op in free)
                and not any(use.empty for use in o.nodes))]  # fmt: skip


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
    exporter = [o for o in result.at_own_opset() if o.case.startswith(PREFIX)]
    own = [o for o in result.at_own_opset() if not o.case.startswith(PREFIX)]
    ncnn = result.backend == "ncnn"
    outcomes = evidence(result)
    counts = collections.Counter(o.status for o in own)
    converted_to = sorted({o.opset for o in result.outcomes if o.opset != o.original_opset})
    notes = [
        f"Node suite at the cases' own opsets: {sum(o.status == 'pass' for o in own)} of "
        f"{len(own)} cases pass ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}).",
    ]
    if exporter:
        notes.append(
            "nnport's exporter cases (nodes as torch exports them): "
            f"{sum(o.status == 'pass' for o in exporter)} of {len(exporter)} pass."
        )
    notes += [
        f"Runs in total (including cases converted to opsets {converted_to[::-1]}): "
        f"{sum(o.status == 'pass' for o in result.outcomes)} pass of "
        f"{sum(o.status != 'unconvertible' for o in result.outcomes)}.",
        "Options: " + ", ".join(f"{k}={v}" for k, v in sorted(result.options.items())),
        "Regenerate: nnport targets probe --backend " + result.backend + " -o PROFILE",
    ]
    if not converted:
        notes.append("Cases ran at their own opsets only; older opsets are assumed, not probed.")
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
            # pnnx learns the batch axis from these ops (nnport.check.batch_axis, measured)
            batch_anchor_ops=PNNX_BATCH_ANCHORS if ncnn else (),
            batch_free_ops=batch_free_ops(result.outcomes) if ncnn else (),
        ),
        ops=tuple(derive_rules(outcomes, constants=ncnn)),
        unlisted_ops="unsupported",
        expands_functions=False,
        notes=tuple(notes),
    )


def write_profile(result: ProbeResult, out: Path, name: str | None = None) -> Path:
    """Derive the profile and write it with the schema's validating, atomic ``dump_profile``."""
    from nnport.probe.reproduce import add_defects

    profile = derive_profile(result, name or (out.stem if out.suffix == ".toml" else None))
    profile = add_defects(profile, result.backend)
    header = (
        f"Generated by `nnport targets probe --backend {result.backend}` ({result.source});\n"
        "do not edit by hand: rerun the probe after upgrading the runtime (see docs/probe.md)."
    )
    return dump_profile(profile, out, header=header)
