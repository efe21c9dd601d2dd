"""Which operator versions a probe speaks for: ONNX schema versions, and the untested older or newer versions assumed to behave like a probed one."""

from __future__ import annotations

import collections
import functools
from typing import TYPE_CHECKING

import onnx

from nnport.model.schema import schema_of
from nnport.targets.profile import VersionRange, canonical_domain

if TYPE_CHECKING:
    from nnport.probe.evidence import Evidence


@functools.cache
def _since_versions() -> dict[tuple[str, str], tuple[int, ...]]:
    table: dict[tuple[str, str], list[int]] = collections.defaultdict(list)
    for schema in onnx.defs.get_all_schemas_with_history():
        table[(canonical_domain(schema.domain), schema.name)].append(int(schema.since_version))
    return {k: tuple(sorted(v)) for k, v in table.items()}


def _version_range(op: str, domain: str, since: int) -> VersionRange:
    """Model opsets at which ``op`` resolves to the schema introduced at ``since``."""
    later = [v for v in _since_versions().get((canonical_domain(domain), op), ()) if v > since]
    return VersionRange(since, later[0] - 1 if later else None)


def _untested_older(evidence: dict[tuple[str, str, int], Evidence]) -> list[tuple[str, str, int]]:
    """Older versions of a passing op that no case reached (the version converter has no
    adapter, or needs constant inputs): assumed supported like the next probed version."""
    missing = []
    for (domain, op, since), ev in list(evidence.items()):
        if not ev.passes:
            continue
        for older in _since_versions().get((domain, op), ()):
            if older < since and (domain, op, older) not in evidence:
                missing.append((domain, op, older))
    return sorted(set(missing))


def _signature(key: tuple[str, str, int]) -> tuple[tuple[str, ...], int, int] | None:
    """Attribute names and formal input/output counts of the schema at ``key``."""
    schema = schema_of(key)
    if schema is None:
        return None
    if schema.deprecated:  # Scatter-11, Upsample-10: a deprecated schema is not assumed
        return None
    return tuple(sorted(schema.attributes)), len(schema.inputs), len(schema.outputs)


def same_inputs(a: tuple[str, str, int], b: tuple[str, str, int]) -> bool:
    """The schemas at ``a`` and ``b`` name the same formal inputs (positions mean the same)."""
    first, second = schema_of(a), schema_of(b)
    if first is None or second is None:
        return False
    return [i.name for i in first.inputs] == [i.name for i in second.inputs]


def leading_inputs(older: tuple[str, str, int], newer: tuple[str, str, int]) -> bool:
    """The formal inputs at ``older`` are the first ones at ``newer``, by name (the newer
    version only adds inputs at the end)."""
    first, second = schema_of(older), schema_of(newer)
    if first is None or second is None:
        return False
    names = [i.name for i in second.inputs]
    return [i.name for i in first.inputs] == names[: len(first.inputs)]


def _only_non_tensor_failures(ev: Evidence) -> bool:
    """No passing case, and every failing one fed or returned a sequence/optional/map."""
    return not ev.passes and ev.fails == ev.non_tensor_fails


def _untested_newer(
    evidence: dict[tuple[str, str, int], Evidence],
) -> list[tuple[tuple[str, str, int], tuple[str, str, int]]]:
    """Newer versions of a passing op that the suite reached only with sequence or optional
    cases (If-13 and If-16), with the same attributes and inputs as the newest passing
    version: (newer key, passing key it is assumed to behave like)."""
    found = []
    for (domain, op, since), ev in list(evidence.items()):
        newer_passing = [v for (d, o, v), e in evidence.items()
                         if (d, o) == (domain, op) and v > since and e.passes]  # fmt: skip
        if not ev.passes or newer_passing:
            continue
        for newer in _since_versions().get((domain, op), ()):
            key = (domain, op, newer)
            signature = _signature(key)
            if newer <= since or signature is None or signature != _signature((domain, op, since)):
                continue
            # only versions the suite reached with sequence/optional cases alone: a version it
            # never reached may fail in ways no single-node case shows (Scan-27 does)
            if key in evidence and _only_non_tensor_failures(evidence[key]):
                found.append((key, (domain, op, since)))
    return sorted(set(found))


def _next_probed(
    evidence: dict[tuple[str, str, int], Evidence], key: tuple[str, str, int]
) -> tuple[str, str, int]:
    domain, op, since = key
    probed = sorted(v for (d, o, v), ev in evidence.items() if d == domain and o == op and v > since
                    and ev.passes and not ev.note)  # fmt: skip
    return (domain, op, probed[0])
