"""The finer limits a probe's unexplained single-node failures are blamed on: integer attribute
values, dtype pairs, run-time inputs, optional inputs, input counts and ranks (rules: the module
docstring of ``nnport.probe.derive``)."""

from __future__ import annotations

import collections
import dataclasses
import json

from nnport.model.dtypes import valid_dtype
from nnport.model.schema import optional_inputs, parameters, schema_of
from nnport.probe.evidence import Evidence, attribute_names, judged_strings, pair_of
from nnport.probe.nodes import NodeUse

ANY_VALUE = '"*"'  # forbidden_attributes: the attribute set at all, with any value (JSON text)


@dataclasses.dataclass
class Limits:
    """What the unexplained failures of one (domain, op, version) are blamed on."""

    forbidden: dict[str, set[str]]  # attribute -> refused values (JSON text)
    constant: set[int]  # input positions that must be constant
    pairs: set[tuple[str, str]]  # refused (input 0, output 0) dtype pairs
    not_given: set[int]  # optional input positions the target cannot take
    max_rank: int | None  # the highest rank that passed, when a higher one failed
    min_inputs: int = 0  # one more than the most inputs that failed, when fewer than any pass
    max_inputs: int | None = None  # the most inputs a pass gave, when a failure gave more
    # input 0 dtype -> switch values refused with it alone (Mod-28 fmod=0 with floats on OpenVINO)
    combos: dict[str, dict[str, set[str]]] = dataclasses.field(default_factory=dict)
    floats: dict[str, set[str]] = dataclasses.field(default_factory=dict)  # name -> allowed
    required: set[str] = dataclasses.field(default_factory=set)  # attributes to be set
    # string attribute values refused together, each of which passed on its own
    together: set[tuple[tuple[str, str], ...]] = dataclasses.field(default_factory=set)


def finer_limits(ev: Evidence, key: tuple[str, str, int]) -> Limits:
    """Integer attribute values and run-time inputs that a failure can only be blamed on.

    A failing single-node case whose dtypes and string attributes all passed elsewhere (and
    whose graph I/O types are accepted) failed on something finer: its integer attribute values
    that never passed are refused (``forbidden_attributes``; switches when there are any, else
    scalar values), so is its (input 0, output 0) dtype pair if that never passed
    (``forbidden_dtype_pairs``), and each input it fed at run time that passed only as a
    constant becomes a ``constant_inputs`` position. With nothing else to blame, the last
    optional input it gave that no passing case gave becomes an ``absent_inputs`` position;
    failing that, fewer inputs than every passing case gave set ``min_inputs``, or a rank above
    every passing one that the converter refused sets ``max_rank``. An attribute without a
    default that every pass set and the failure left out becomes required
    (``required_attributes``: ncnn's Transpose without ``perm``). A float attribute value
    that never passed, where every pass used one value, limits the attribute to that value
    (``attributes``): pnnx maps Selu to a fixed-constant layer, so only ONNX's default alpha and
    gamma convert; with several passing values nothing is blamed on it. String values that
    each passed, but never two of them in the same case, are refused together
    (``forbidden_combinations``: ncnn's Resize with cubic and asymmetric).
    """
    forbidden: dict[str, set[str]] = collections.defaultdict(set)
    constant: set[int] = set()
    pairs: set[tuple[str, str]] = set()
    not_given: set[int] = set()
    max_rank: int | None = None
    min_inputs = 0
    max_inputs: int | None = None
    combos: dict[str, dict[str, set[str]]] = {}
    floats: dict[str, set[str]] = {}
    required: set[str] = set()
    together: set[tuple[tuple[str, str], ...]] = set()
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
            any(  # a position no pass gave (a variadic op's third input) is not judged by dtype
                valid_dtype(d) and i in ev.ok_in and valid_dtype(d) not in ev.ok_in[i]
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
        pair = pair_of(use)
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
        if not blamed and (apart := _never_together(use, ev)):
            # each value passed, never these together: ncnn's Resize with cubic and
            # asymmetric, or nearest and align_corners
            together.update(apart)
            blamed = [(n, v) for pair in apart for n, v in pair]
        if not blamed:
            missing, only = _unset_or_float(use, ev)
            required |= missing
            floats.update(only)
            blamed = [(n, "") for n in (*missing, *only)]
        if never and not blamed:
            # the last one only: a case adds optional inputs in order to test the last
            # (LSTM's peepholes P come with sequence_lens, initial_h and initial_c)
            not_given.add(never[-1])
        elif not blamed and (given := sum(1 for d in use.inputs if d)) < ev.fewest_ok:
            # every passing case gave more: ncnn's Split-13 crashes without 'split', its Sum
            # with one input (refused up to the count that failed, not up to the passing one)
            min_inputs = max(min_inputs, given + 1)
        elif not blamed and given > ev.most_ok > 0 and not optional:
            # a variadic op given more inputs than every passing case: ncnn's Max and Min with
            # three inputs return wrong values (optional inputs are absent_inputs' business)
            max_inputs = ev.most_ok
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
    return Limits(
        dict(forbidden), set(parameters(key, constant)), pairs, not_given, max_rank,
        min_inputs, max_inputs, combos, floats, required, together,
    )  # fmt: skip


def _never_together(use: NodeUse, ev: Evidence) -> list[tuple[tuple[str, str], ...]]:
    """The pairs of a failing use's string attribute values (as judged) that no passing use
    had together, when there are passing uses to compare with."""
    values = sorted(judged_strings(use))
    if not ev.ok_strings:
        return []
    return [(a, b) for i, a in enumerate(values) for b in values[i + 1 :]
            if not any(a in ok and b in ok for ok in ev.ok_strings)]  # fmt: skip


def _unset_or_float(use: NodeUse, ev: Evidence) -> tuple[set[str], dict[str, set[str]]]:
    """Attributes every pass set that ``use`` leaves out (pnnx's Transpose without perm); failing
    those, float attributes with a value no pass used where every pass used one value (pnnx's
    Selu with other constants than ONNX's defaults), each with that one value."""
    missing = (ev.always_set or set()) - attribute_names(use)
    if missing:
        return missing, {}
    return set(), {
        n: ev.ok_float[n] for n, v in use.float_attributes
        if v not in ev.ok_float.get(n, set()) and len(ev.ok_float.get(n, ())) == 1
    }  # fmt: skip


def _all_ones(text: str) -> bool:
    """An integer list of ones ('[1,1]'): the identity value of strides and dilations."""
    return text.startswith("[") and set(json.loads(text)) <= {1}


def older_too(
    evidence: dict[tuple[str, str, int], Evidence],
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
