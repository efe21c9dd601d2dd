"""Target profiles: the TOML schema as frozen dataclasses, validated on load (writing: ``profile_write``)."""

from __future__ import annotations

import datetime as _dt
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx_ir as ir

from nnport.errors import UnsupportedTargetError
from nnport.model.dtypes import dtype_name

DEFAULT_DOMAIN = "ai.onnx"
INT64_POLICIES = ("native", "constant", "none")
BROADCAST_POLICIES = ("any", "per-channel", "none")
UNLISTED_POLICIES = ("unsupported", "supported")
VARIABLE_DIMS = ("batch", "image", "any")
IO_KINDS = ("sequence", "optional", "map")  # graph input/output types other than tensors
# Number formats a device computes in (docs/targets.md, "Precision").
FORMATS = ("fp32", "fp16", "bf16", "int8", "int16")
# What a target does with a model that arrives quantized (QuantizeLinear/DequantizeLinear pairs):
# runs it as is, or wants the float model and its own calibration.
QDQ_POLICIES = ("consumes", "calibrates")
# Conditions a default format may depend on, checked on the machine that verifies.
FORMAT_CONDITIONS = ("cpu-bf16",)
# The measured runtime defects a profile may list: one detector each in nnport.check.defects
# (a test holds the two lists equal).
DEFECT_NAMES = (
    "if-empty-constant",
    "tile-runtime-repeats",
    "pool-ceil-extra-window",
    "avgpool-ceil-extra-window",
    "dynamic-rank",
    "reduce-empty-bool",
    "attention-mask-length",
    "attention-mask-length-padded",
    "empty-tensor",
    "linear-bias",
    "passthrough-graph",
    "gather-index-list",
    "deconv-runtime-weight",
    "resize-nearest-mode",
    "resize-nearest-index",
    "split-uneven-parts",
    "reduce-axes-input",
)
_OPEN = 10_000  # upper bound used for an open version range ("13+")
_RANGE = re.compile(r"^\s*(\d+)\s*(?:(-)\s*(\d+)|(\+))?\s*$")


def canonical_domain(domain: str | None) -> str:
    """'' and 'ai.onnx' both name the default ONNX domain; return 'ai.onnx' for either."""
    return domain or DEFAULT_DOMAIN


@dataclass(frozen=True)
class VersionRange:
    """An inclusive range of opset versions; ``hi`` None means open-ended ('13+')."""

    lo: int
    hi: int | None = None

    def __contains__(self, version: object) -> bool:
        return isinstance(version, int) and self.lo <= version <= (self.hi or _OPEN)

    def text(self) -> str:
        """'9-13', '13+' or '11'."""
        if self.hi is None:
            return f"{self.lo}+"
        return str(self.lo) if self.hi == self.lo else f"{self.lo}-{self.hi}"

    @classmethod
    def parse(cls, value: Any, where: str) -> VersionRange:
        """Parse '9-13', '13+', '11' or an integer."""
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(value, value)
        match = _RANGE.match(value) if isinstance(value, str) else None
        if not match:
            raise _bad(where, f"{value!r} is not a version range (use '9-13', '13+' or '11')")
        lo = int(match.group(1))
        if match.group(4):
            return cls(lo, None)
        hi = int(match.group(3)) if match.group(2) else lo
        if hi < lo:
            raise _bad(where, f"version range {value!r} ends before it starts")
        return cls(lo, hi)


# Attributes that only take effect in one mode (ONNX Resize): elsewhere they are not judged.
MODE_ONLY = {("Resize", "nearest_mode"): "nearest", ("Resize", "cubic_coeff_a"): "cubic",
             ("Resize", "exclude_outside"): "cubic"}  # fmt: skip


@dataclass(frozen=True)
class OpRule:
    """What a target accepts for one operator (one entry of ``[[ops]]``).

    An op may have several entries (for example one per version range with different dtypes);
    a node is accepted when any entry for its (domain, op) accepts it.
    Dtype maps are keyed by input/output position as a string, or '*' for every position.
    """

    op: str
    domain: str = DEFAULT_DOMAIN
    versions: tuple[VersionRange, ...] = ()
    input_dtypes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    output_dtypes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    attributes: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    forbidden_attributes: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    # attribute values refused together, each allowed on its own: ((name, value), ...) per entry
    forbidden_combinations: tuple[tuple[tuple[str, Any], ...], ...] = ()
    required_attributes: tuple[str, ...] = ()  # attributes without a default it needs set
    forbidden_dtype_pairs: tuple[tuple[str, str], ...] = ()  # (input 0, output 0) dtypes
    constant_inputs: tuple[int, ...] = ()
    absent_inputs: tuple[int, ...] = ()  # optional input positions the target cannot take
    absent_outputs: tuple[int, ...] = ()  # optional outputs it cannot produce (LN's Mean)
    min_inputs: int = 0  # fewer inputs given than this fail (ncnn's one-input Sum)
    max_inputs: int | None = None  # more inputs given than this fail (ncnn's three-input Max)
    one_element_inputs: tuple[int, ...] = ()  # inputs that must hold one element (per-tensor)
    input_values: dict[str, tuple[int | float, ...]] = field(default_factory=dict)
    max_rank: int | None = None
    broadcast: str = "any"
    integer_scales: bool = False
    note: str = ""

    def accepts_version(self, version: int) -> bool:
        """True when ``version`` (the model's opset for this op's domain) is in a listed range."""
        return not self.versions or any(version in r for r in self.versions)

    def versions_text(self) -> str:
        """The version ranges as text ('any' when unrestricted)."""
        return ", ".join(r.text() for r in self.versions) or "any"

    @staticmethod
    def dtypes_at(table: Mapping[str, tuple[str, ...]], index: int) -> tuple[str, ...] | None:
        """Allowed dtypes at one position (None when unrestricted)."""
        if str(index) in table:
            return table[str(index)]
        return table.get("*")


@dataclass(frozen=True)
class GraphRules:
    """Target-wide rules that apply to the graph as a whole."""

    input_dtypes: tuple[str, ...] = ()
    output_dtypes: tuple[str, ...] = ()
    static_shapes: bool = False
    variable_dims: tuple[str, ...] = ()
    variable_dims_note: str = ""
    int64: str = "native"
    max_rank: int | None = None
    tensor_dtypes: tuple[str, ...] = ()
    folds_constants: bool = False
    batch_anchor_ops: tuple[str, ...] = ()  # the converter needs one of these to know the batch
    batch_free_ops: tuple[str, ...] = ()  # ops right on a first axis != 1 (with batch anchors)
    defects: tuple[
        str, ...
    ] = ()  # measured runtime defects (nnport.check.defects.registry.DEFECTS)
    refused_io_kinds: tuple[str, ...] = ()  # non-tensor graph inputs/outputs (IO_KINDS) refused


@dataclass(frozen=True)
class Source:
    """Where a profile's facts come from: a document and its version, or a probe run."""

    document: str = ""
    version: str = ""
    url: str = ""
    probe: str = ""

    def text(self) -> str:
        """A one-line citation."""
        if self.probe:
            return f"probe: {self.probe}"
        return f"{self.document} ({self.version})" if self.version else self.document


@dataclass(frozen=True)
class Precision:
    """The number format the target's device computes in by default, and its other options.

    ``default`` holds where ``requires`` (a FORMAT_CONDITIONS name) holds on the verifying
    machine, else ``fallback``. ``flags`` maps a format to the converter option that selects it;
    ``keep_fp32`` names how the converter keeps single nodes in fp32 ('keep-dtype': ATC's
    --keep_dtype file). ``qdq`` says what the target does with an already quantized model.
    """

    default: str = "fp32"
    options: tuple[str, ...] = ()
    requires: str = ""
    fallback: str = ""
    flags: dict[str, str] = field(default_factory=dict)
    keep_fp32: str = ""
    qdq: str = ""
    qdq_note: str = ""
    source: str = ""
    url: str = ""

    def formats(self) -> tuple[str, ...]:
        """The default, the fallback and the options, once each."""
        return tuple(f for f in dict.fromkeys((self.default, self.fallback, *self.options)) if f)

    def text(self) -> str:
        """'fp16 (options: fp32, int8)' or 'bf16 where the CPU has bf16 units, else fp32'."""
        head = self.default
        if self.requires:
            head += f" {CONDITION_TEXT.get(self.requires, self.requires)}, else {self.fallback}"
        others = [f for f in self.options if f not in (self.default, self.fallback)]
        return head + (f" (options: {', '.join(others)})" if others else "")


CONDITION_TEXT = {"cpu-bf16": "where the CPU has bf16 units (AVX512_BF16 or AMX)"}


@dataclass(frozen=True)
class TargetProfile:
    """A deployment target: opset range, per-op rules and graph-wide rules (see docs/targets.md)."""

    name: str
    description: str
    date: str
    source: Source
    opsets: dict[str, VersionRange]
    graph: GraphRules = field(default_factory=GraphRules)
    ops: tuple[OpRule, ...] = ()
    unlisted_ops: str = "unsupported"
    expands_functions: bool = False
    unexpanded_functions: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    precision: Precision = field(default_factory=Precision)
    path: str = ""

    def rules_for(self, op: str, domain: str) -> tuple[OpRule, ...]:
        """Every ``[[ops]]`` entry for (domain, op)."""
        domain = canonical_domain(domain)
        return tuple(r for r in self.ops if r.op == op and r.domain == domain)

    def expands(self, op: str, version: int) -> bool:
        """False when ``unexpanded_functions`` names the ai.onnx op ('Swish') or the op at
        this opset ('Swish:25+': ONNX Runtime expands Swish-24 only in opset-24 models)."""
        for entry in self.unexpanded_functions:
            name, _, versions = entry.partition(":")
            if name == op and (not versions or version in VersionRange.parse(versions, entry)):
                return False
        return True

    def opset_text(self) -> str:
        """'ai.onnx 9-13' style summary of the accepted opset range(s)."""
        return ", ".join(f"{d} {r.text()}" for d, r in self.opsets.items())

    def op_names(self) -> list[str]:
        """Sorted distinct operator names listed (domain-qualified outside ai.onnx)."""
        names = {r.op if r.domain == DEFAULT_DOMAIN else f"{r.domain}::{r.op}" for r in self.ops}
        return sorted(names)


# ---------------------------------------------------------------------------------------------
# Validation (dict from TOML -> dataclasses)
# ---------------------------------------------------------------------------------------------


def _bad(where: str, problem: str) -> UnsupportedTargetError:
    return UnsupportedTargetError(f"invalid target profile: {where}: {problem}")


def _keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    if unknown := sorted(set(table) - allowed):
        raise _bad(where, f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _str(table: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = table.get(key, default)
    if value is None:
        raise _bad(where, f"missing required key {key!r}")
    if isinstance(value, _dt.date):
        return value.isoformat()
    if not isinstance(value, str):
        raise _bad(where, f"{key!r} must be a string, got {value!r}")
    return value


def _int(table: Mapping[str, Any], key: str, where: str) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _bad(where, f"{key!r} must be a non-negative integer, got {value!r}")
    return value


def _choice(table: Mapping[str, Any], key: str, choices: tuple[str, ...], where: str) -> str:
    value = _str(table, key, where, choices[0])
    if value not in choices:
        raise _bad(where, f"{key!r} is {value!r}; expected one of {', '.join(choices)}")
    return value


_DTYPE_NAMES: dict[str, str] = {}


def _canonical_dtype(name: str) -> str:
    if not _DTYPE_NAMES:
        for dtype in ir.DataType:
            if dtype != ir.DataType.UNDEFINED:
                _DTYPE_NAMES[dtype_name(dtype)] = dtype_name(dtype)
                _DTYPE_NAMES[dtype.name.lower()] = dtype_name(dtype)
    found = _DTYPE_NAMES.get(name) or _DTYPE_NAMES.get(name.lower())
    if found is None:
        raise ValueError(name)
    return found


def _dtypes(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _bad(where, f"expected a list of dtype names, got {value!r}")
    names = []
    for item in value:
        try:
            names.append(_canonical_dtype(str(item)))
        except ValueError:
            raise _bad(where, f"unknown dtype {item!r} (use names like float32, int64)") from None
    return tuple(names)


def _dtype_table(value: Any, where: str) -> dict[str, tuple[str, ...]]:
    if value is None:
        return {}
    if isinstance(value, list):
        return {"*": _dtypes(value, where)}
    if not isinstance(value, dict):
        raise _bad(where, "expected a dtype list or a table {position = [dtypes], '*' = [...]}")
    table = {}
    for key, item in value.items():
        if key != "*" and not key.isdigit():
            raise _bad(where, f"position key {key!r} must be '*' or an index such as '0'")
        table[key] = _dtypes(item, f"{where}.{key}")
    return table


def _positions(entry: Mapping[str, Any], key: str, where: str) -> tuple[int, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value
    ):
        raise _bad(where, f"'{key}' must be a list of input positions such as [1]")
    return tuple(value)


def _op(entry: Any, where: str) -> OpRule:
    if not isinstance(entry, dict):
        raise _bad(where, "each [[ops]] entry must be a table")
    op = _str(entry, "op", where)
    where = f"{where} ({op})"
    _keys(entry, {f.name for f in OpRule.__dataclass_fields__.values()}, where)
    versions = entry.get("versions", [])
    if not isinstance(versions, list):
        raise _bad(where, "'versions' must be a list such as ['9-13']")
    attrs = entry.get("attributes", {})
    if not isinstance(attrs, dict) or not all(isinstance(v, list) for v in attrs.values()):
        raise _bad(where, "'attributes' must be a table {name = [allowed values]}")
    forbidden = entry.get("forbidden_attributes", {})
    if not isinstance(forbidden, dict) or not all(isinstance(v, list) for v in forbidden.values()):
        raise _bad(where, "'forbidden_attributes' must be a table {name = [refused values]}")
    combinations = entry.get("forbidden_combinations", [])
    if not isinstance(combinations, list) or not all(
        isinstance(c, dict) and len(c) >= 2 and all(isinstance(k, str) for k in c)
        for c in combinations
    ):
        raise _bad(where, "'forbidden_combinations' must be a list of tables {name = value, ...}")
    required = entry.get("required_attributes", [])
    if not isinstance(required, list) or not all(isinstance(n, str) and n for n in required):
        raise _bad(where, "'required_attributes' must be a list of attribute names")
    pairs = entry.get("forbidden_dtype_pairs", [])
    if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
        raise _bad(where, "'forbidden_dtype_pairs' must be a list of [input dtype, output dtype]")
    values = entry.get("input_values", {})
    lists = values.values() if isinstance(values, dict) else []
    numbers = [x for v in lists for x in (v if isinstance(v, list) else [None])]
    if not isinstance(values, dict) or not all(k.isdigit() for k in values) or not all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in numbers
    ):  # fmt: skip
        raise _bad(where, "'input_values' must be a table {position = [allowed numbers]}")
    consts = _positions(entry, "constant_inputs", where)
    absent = _positions(entry, "absent_inputs", where)
    absent_out = _positions(entry, "absent_outputs", where)
    integer_scales = entry.get("integer_scales", False)
    if not isinstance(integer_scales, bool):
        raise _bad(where, "'integer_scales' must be true or false")
    return OpRule(
        op=op,
        domain=canonical_domain(_str(entry, "domain", where, DEFAULT_DOMAIN)),
        versions=tuple(VersionRange.parse(v, f"{where}.versions") for v in versions),
        input_dtypes=_dtype_table(entry.get("input_dtypes"), f"{where}.input_dtypes"),
        output_dtypes=_dtype_table(entry.get("output_dtypes"), f"{where}.output_dtypes"),
        attributes={k: tuple(v) for k, v in attrs.items()},
        forbidden_attributes={k: tuple(v) for k, v in forbidden.items()},
        forbidden_combinations=tuple(tuple(sorted(c.items())) for c in combinations),
        required_attributes=tuple(required),
        forbidden_dtype_pairs=tuple(
            (a, b) for a, b in (_dtypes(p, f"{where}.forbidden_dtype_pairs") for p in pairs)
        ),
        constant_inputs=consts,
        absent_inputs=absent,
        absent_outputs=absent_out,
        min_inputs=_int(entry, "min_inputs", where) or 0,
        max_inputs=_int(entry, "max_inputs", where),
        one_element_inputs=_positions(entry, "one_element_inputs", where),
        input_values={k: tuple(v) for k, v in values.items()},
        max_rank=_int(entry, "max_rank", where),
        broadcast=_choice(entry, "broadcast", BROADCAST_POLICIES, where),
        integer_scales=integer_scales,
        note=_str(entry, "note", where, ""),
    )


def _graph(table: Any, where: str) -> GraphRules:
    if not isinstance(table, dict):
        raise _bad(where, "must be a table")
    _keys(table, {f.name for f in GraphRules.__dataclass_fields__.values()}, where)
    static, folds = table.get("static_shapes", False), table.get("folds_constants", False)
    if not isinstance(static, bool) or not isinstance(folds, bool):
        raise _bad(where, "'static_shapes' and 'folds_constants' must be true or false")
    anchors, free = table.get("batch_anchor_ops", []), table.get("batch_free_ops", [])
    for ops in (anchors, free):
        if not isinstance(ops, list) or not all(isinstance(a, str) and a for a in ops):
            raise _bad(where, "'batch_anchor_ops' and 'batch_free_ops' must be lists of op names")
    dims, defects = table.get("variable_dims", []), table.get("defects", [])
    kinds = table.get("refused_io_kinds", [])
    for key, got, known in (("variable_dims", dims, VARIABLE_DIMS), ("defects", defects, DEFECT_NAMES),
                            ("refused_io_kinds", kinds, IO_KINDS)):  # fmt: skip
        if not isinstance(got, list) or any(d not in known for d in got):
            raise _bad(where, f"'{key}' must be a list of {', '.join(known)}")
    return GraphRules(
        input_dtypes=_dtypes(table.get("input_dtypes", []), f"{where}.input_dtypes"),
        output_dtypes=_dtypes(table.get("output_dtypes", []), f"{where}.output_dtypes"),
        static_shapes=static,
        variable_dims=tuple(dims),
        variable_dims_note=_str(table, "variable_dims_note", where, ""),
        int64=_choice(table, "int64", INT64_POLICIES, where),
        max_rank=_int(table, "max_rank", where),
        tensor_dtypes=_dtypes(table.get("tensor_dtypes", []), f"{where}.tensor_dtypes"),
        folds_constants=folds,
        batch_anchor_ops=tuple(anchors),
        batch_free_ops=tuple(free),
        defects=tuple(defects),
        refused_io_kinds=tuple(kinds),
    )


def _format(value: Any, where: str, key: str) -> str:
    if value not in FORMATS:
        raise _bad(where, f"{key!r} is {value!r}; expected one of {', '.join(FORMATS)}")
    return str(value)


def _precision(table: Any, where: str) -> Precision:
    if not isinstance(table, dict):
        raise _bad(where, "must be a table")
    _keys(table, {f.name for f in Precision.__dataclass_fields__.values()}, where)
    options = table.get("options", [])
    if not isinstance(options, list):
        raise _bad(where, f"'options' must be a list of {', '.join(FORMATS)}")
    flags = table.get("flags", {})
    if not isinstance(flags, dict) or not all(isinstance(v, str) for v in flags.values()):
        raise _bad(where, "'flags' must be a table {format = 'converter option'}")
    requires = _str(table, "requires", where, "")
    if requires and requires not in FORMAT_CONDITIONS:
        raise _bad(where, f"'requires' must be one of {', '.join(FORMAT_CONDITIONS)}")
    fallback = _str(table, "fallback", where, "")
    if bool(requires) != bool(fallback):
        raise _bad(where, "'requires' and 'fallback' go together")
    qdq = _str(table, "qdq", where, "")
    if qdq and qdq not in QDQ_POLICIES:
        raise _bad(where, f"'qdq' must be one of {', '.join(QDQ_POLICIES)}")
    precision = Precision(
        default=_format(table.get("default", "fp32"), where, "default"),
        options=tuple(_format(o, where, "options") for o in options),
        requires=requires,
        fallback=_format(fallback, where, "fallback") if fallback else "",
        flags={_format(k, where, "flags"): v for k, v in flags.items()},
        keep_fp32=_choice(table, "keep_fp32", ("", "keep-dtype"), where),
        qdq=qdq,
        qdq_note=_str(table, "qdq_note", where, ""),
        source=_str(table, "source", where, ""),
        url=_str(table, "url", where, ""),
    )
    if not precision.source:
        raise _bad(where, "'source' must cite where the formats come from")
    return precision


_TOP_KEYS = {"name", "description", "date", "source", "opsets", "graph", "ops", "unlisted_ops",
             "expands_functions", "unexpanded_functions", "notes", "precision"}  # fmt: skip


def profile_from_dict(data: Mapping[str, Any], where: str = "profile") -> TargetProfile:
    """Validate a parsed TOML document and build a TargetProfile (UnsupportedTargetError if bad)."""
    _keys(data, _TOP_KEYS, where)
    name = _str(data, "name", where)
    if not re.match(r"^[a-z0-9][a-z0-9_.-]*$", name):
        raise _bad(where, f"name {name!r} must be lowercase letters, digits, '-', '_' or '.'")
    source = data.get("source")
    if not isinstance(source, dict):
        raise _bad(where, "missing [source] table (document + version, or probe)")
    _keys(source, {"document", "version", "url", "probe"}, f"{where}: [source]")
    src = Source(**{k: _str(source, k, f"{where}: [source]", "") for k in source})
    if not (src.probe or (src.document and src.version)):
        raise _bad(where, "[source] needs 'document' and 'version', or 'probe'")
    opsets_raw = data.get("opsets")
    if not isinstance(opsets_raw, dict) or not opsets_raw:
        raise _bad(where, "missing [opsets] table such as 'ai.onnx' = '9-13'")
    opsets = {
        canonical_domain(d): VersionRange.parse(r, f"{where}: [opsets] {d}")
        for d, r in opsets_raw.items()
    }
    ops_raw = data.get("ops", [])
    if not isinstance(ops_raw, list):
        raise _bad(where, "'ops' must be an array of tables ([[ops]])")
    notes = data.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise _bad(where, "'notes' must be a list of strings")
    expands = data.get("expands_functions", False)
    if not isinstance(expands, bool):
        raise _bad(where, "'expands_functions' must be true or false")
    unexpanded = data.get("unexpanded_functions", [])
    if not isinstance(unexpanded, list) or not all(isinstance(o, str) for o in unexpanded):
        raise _bad(where, "'unexpanded_functions' must be a list of op names ('Op' or 'Op:25+')")
    for entry in unexpanded:
        if ":" in entry:
            VersionRange.parse(entry.partition(":")[2], f"{where}: unexpanded_functions")
    return TargetProfile(
        name=name,
        description=_str(data, "description", where),
        date=_str(data, "date", where),
        source=src,
        opsets=opsets,
        graph=_graph(data.get("graph", {}), f"{where}: [graph]"),
        ops=tuple(_op(e, f"{where}: ops[{i}]") for i, e in enumerate(ops_raw)),
        unlisted_ops=_choice(data, "unlisted_ops", UNLISTED_POLICIES, where),
        expands_functions=expands,
        unexpanded_functions=tuple(unexpanded),
        notes=tuple(notes),
        precision=_precision(data["precision"], f"{where}: [precision]")
        if "precision" in data
        else Precision(),
    )


def read_profile(path: str | os.PathLike[str]) -> TargetProfile:
    """Parse and validate one profile file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UnsupportedTargetError(f"no such target profile file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UnsupportedTargetError(f"cannot read target profile {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UnsupportedTargetError(f"invalid target profile: {path}: not TOML ({exc})") from None
    profile = profile_from_dict(data, str(path))
    return TargetProfile(**{**profile.__dict__, "path": str(path)})
