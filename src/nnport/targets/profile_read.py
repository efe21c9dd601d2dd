"""Reading target profiles: a parsed TOML document validated into a ``TargetProfile``, with a
one-line ``UnsupportedTargetError`` naming the file, the entry and the key when it is wrong."""

from __future__ import annotations

import datetime as _dt
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import onnx_ir as ir

from nnport.errors import UnsupportedTargetError
from nnport.model.dtypes import dtype_name
from nnport.targets.profile import (
    BROADCAST_POLICIES,
    DEFAULT_DOMAIN,
    DEFECT_NAMES,
    FORMAT_CONDITIONS,
    FORMATS,
    INT64_POLICIES,
    IO_KINDS,
    QDQ_POLICIES,
    UNLISTED_POLICIES,
    VARIABLE_DIMS,
    GraphRules,
    OpRule,
    Precision,
    Source,
    TargetProfile,
    VersionRange,
    canonical_domain,
    profile_error,
)

_bad = profile_error


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
