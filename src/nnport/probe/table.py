"""Add a published operator table's ops to a probed profile, minus those the probe refutes.

A converter's table (pnnx's ONNX op list) names ops the probe's few cases per op may never have
passed; they are added with a note saying so. An op is refuted instead when one of its
single-node cases, run with a first axis of 1, failed although ``check`` with the supplemented
profile calls that case deployable: nothing but the op itself explains the failure.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence

import onnx_ir as ir

from nnport.check.violations import Violation
from nnport.check.walker import check
from nnport.model.schema import optional_outputs
from nnport.probe.batch import BATCH_ONE, batch_one_variant
from nnport.probe.cases import case_inputs, load_cases
from nnport.probe.outcomes import CaseOutcome, ProbeResult
from nnport.targets.profile import OpRule, Source, TargetProfile, canonical_domain


def supplement(
    profile: TargetProfile,
    ops: Iterable[str],
    why: str,
    forbidden: dict[str, dict[str, tuple[object, ...]]] | None = None,
    no_outputs: dict[str, set[int]] | None = None,
) -> TargetProfile:
    """Add ops a published table lists but no probed case passed (any version, ``note`` says
    why; ``forbidden`` attribute values and ``no_outputs`` optional output positions refused
    per op); the source line says it is probe plus table."""
    have = {r.op for r in profile.ops}
    limits, outputs = forbidden or {}, no_outputs or {}
    extra = tuple(
        OpRule(op=op, note=why, forbidden_attributes=limits.get(op, {}),
               absent_outputs=tuple(sorted(outputs.get(op, ()))))
        for op in sorted(set(ops) - have)
    )  # fmt: skip
    source = Source(probe=f"{profile.source.probe}; plus {len(extra)} ops from {why}")
    return dataclasses.replace(profile, ops=profile.ops + extra, source=source)


def newer_table_versions(
    profile: TargetProfile, ops: Iterable[str], result: ProbeResult, why: str
) -> TargetProfile:
    """Add the versions of probed table ops that are newer than every probed entry and that no
    case exercised at all (ncnn's Split-18, which dynamo exports emit for torch.split, where the
    probe's two Split cases were Split-13): the table speaks for them as for unprobed ops. A
    version some case failed at stays out, and deprecated schemas are not assumed."""
    from nnport.model.schema import schema_of
    from nnport.probe.versions import _since_versions, _version_range

    tried = {(u.op, u.version) for o in result.outcomes for u in o.nodes}
    top = profile.opsets.get("ai.onnx")
    extra = []
    for op in sorted(set(ops)):
        entries = [r for r in profile.rules_for(op, "ai.onnx") if r.versions]
        if not entries:
            continue
        newest = max(v.hi if v.hi is not None else 1 << 30 for r in entries for v in r.versions)
        for since in _since_versions().get(("ai.onnx", op), ()):
            schema = schema_of(("ai.onnx", op, since))
            if since <= newest or (op, since) in tried or schema is None or schema.deprecated:
                continue
            if top is not None and top.hi is not None and since > top.hi:
                continue
            note = f"{why}; version {since} not probed"
            extra.append(OpRule(op=op, versions=(_version_range(op, "ai.onnx", since),), note=note))
    return dataclasses.replace(profile, ops=profile.ops + tuple(extra))


@dataclasses.dataclass
class Refutation:
    """What the table's failing cases refute: whole ops, integer-list attribute values (as JSON
    text), and optional outputs."""

    ops: set[str] = dataclasses.field(default_factory=set)
    values: dict[str, dict[str, set[str]]] = dataclasses.field(default_factory=dict)
    outputs: dict[str, set[int]] = dataclasses.field(default_factory=dict)

    def limits(self) -> dict[str, dict[str, tuple[object, ...]]]:
        """The refused values of ops not refuted whole, as forbidden_attributes tables."""
        return _as_limits({op: v for op, v in self.values.items() if op not in self.ops})


def refute_table_ops(
    result: ProbeResult, table: list[str], profile: TargetProfile, why: str
) -> Refutation:
    """Table ops (no probed case passed) refuted by a single-node case run with a first axis of
    1 that failed although ``check`` with the table-supplemented profile calls it deployable:
    nothing but the op explains the failure (pnnx ignores Selu, Softsign, ThresholdedRelu; ncnn
    has no layer for torch.tile). When the failing node asks for optional outputs, those are
    refused instead of the op (pnnx's layer_norm makes no Mean or InvStdDev, and every
    LayerNormalization case asks for them, while zoo networks' convert); failing that, when it
    has integer-list attributes, their exact values are (ncnn crashed on Transpose perm
    [0, 1, 2], while zoo networks' Transposes convert)."""
    probed = {r.op for r in profile.ops}
    failed = [o for o in result.outcomes
              if o.status in ("fail", "crash", "timeout") and o.single_node and o.nodes
              and o.opset == o.original_opset and o.op not in probed and o.op in table
              and (o.variant == BATCH_ONE or (not o.variant and o.leading_dim <= 1))]  # fmt: skip
    cases = (
        {c.name: c for c in load_cases(names=sorted({o.case for o in failed}))} if failed else {}
    )
    refuted = Refutation()
    current = supplement(profile, table, why)
    for outcome in failed:
        if outcome.op in refuted.ops or outcome.case not in cases:
            continue
        model, inputs = case_inputs(cases[outcome.case], freeze=True)
        if outcome.variant == BATCH_ONE:
            found = batch_one_variant(model, inputs)
            if found is None:
                continue
            model = found[0]
        report = check(ir.serde.deserialize_model(model), current)
        if not report.deployable and not _output_types_only(outcome, report.violations):
            continue
        use = outcome.nodes[0]
        optional = optional_outputs((canonical_domain(use.domain), use.op, use.version))
        asked = {i for i, d in enumerate(use.outputs) if d and i in optional}
        lists = [(n, v) for n, v in use.int_attributes if v.startswith("[")]
        if asked:
            refuted.outputs.setdefault(outcome.op, set()).update(asked)
        elif lists:
            for name, value in lists:
                refuted.values.setdefault(outcome.op, {}).setdefault(name, set()).add(value)
        else:
            refuted.ops.add(outcome.op)
        current = supplement(  # what the next case is judged by
            profile, [op for op in table if op not in refuted.ops], why, refuted.limits(),
            refuted.outputs,
        )  # fmt: skip
    return refuted


def _output_types_only(outcome: CaseOutcome, violations: Sequence[Violation]) -> bool:
    """A case that failed to convert although check objects only to graph I/O element types:
    those decide what the runtime can hand back, not what the converter takes, so the op is
    the one left to blame (ncnn: ArgMax, TopK and CumSum, whose int64 outputs check refuses,
    fail in pnnx before any output exists)."""
    return outcome.stage == "convert" and all(v.rule == "io-dtype" for v in violations)


def _as_limits(refused: dict[str, dict[str, set[str]]]) -> dict[str, dict[str, tuple[object, ...]]]:
    """Refused values as JSON text per op and attribute -> forbidden_attributes tables."""
    return {
        op: {name: tuple(json.loads(v) for v in sorted(texts)) for name, texts in values.items()}
        for op, values in refused.items()
    }
