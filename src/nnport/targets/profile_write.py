"""Writing target profiles: dataclasses -> TOML (validated, atomic), for generators and the probe."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

from nnport.model.io import atomic_path
from nnport.targets.profile import (
    DEFAULT_DOMAIN,
    OpRule,
    Precision,
    TargetProfile,
)
from nnport.targets.profile_read import profile_from_dict


def _op_dict(rule: OpRule) -> dict[str, Any]:
    out: dict[str, Any] = {"op": rule.op}
    if rule.domain != DEFAULT_DOMAIN:
        out["domain"] = rule.domain
    if rule.versions:
        out["versions"] = [r.text() for r in rule.versions]
    for key in ("input_dtypes", "output_dtypes"):
        table: dict[str, tuple[str, ...]] = getattr(rule, key)
        if set(table) == {"*"}:
            out[key] = list(table["*"])
        elif table:
            out[key] = {k: list(v) for k, v in table.items()}
    for key in ("constant_inputs", "absent_inputs", "absent_outputs", "one_element_inputs",
                "required_attributes"):  # fmt: skip
        if getattr(rule, key):
            out[key] = list(getattr(rule, key))
    if rule.min_inputs:
        out["min_inputs"] = rule.min_inputs
    if rule.max_inputs is not None:
        out["max_inputs"] = rule.max_inputs
    if rule.max_rank is not None:
        out["max_rank"] = rule.max_rank
    if rule.broadcast != "any":
        out["broadcast"] = rule.broadcast
    if rule.integer_scales:
        out["integer_scales"] = True
    if rule.note:
        out["note"] = rule.note
    if rule.forbidden_dtype_pairs:
        out["forbidden_dtype_pairs"] = [list(p) for p in rule.forbidden_dtype_pairs]
    for key in ("attributes", "input_values", "forbidden_attributes"):  # name -> values tables
        if getattr(rule, key):
            out[key] = {k: list(v) for k, v in getattr(rule, key).items()}
    if rule.forbidden_combinations:
        out["forbidden_combinations"] = [dict(c) for c in rule.forbidden_combinations]
    return out


def _precision_dict(precision: Precision) -> dict[str, Any]:
    out: dict[str, Any] = {"default": precision.default}
    for key in ("options", "requires", "fallback", "keep_fp32", "qdq", "qdq_note", "source",
                "url"):  # fmt: skip
        value = getattr(precision, key)
        if value:
            out[key] = list(value) if isinstance(value, tuple) else value
    if precision.flags:
        out["flags"] = dict(precision.flags)
    return out


def profile_to_dict(profile: TargetProfile) -> dict[str, Any]:
    """The TOML document (as a dict) for ``profile``; ``profile_from_dict`` reads it back."""
    graph = profile.graph
    graph_out: dict[str, Any] = {"static_shapes": graph.static_shapes, "int64": graph.int64}
    for key in ("input_dtypes", "output_dtypes", "tensor_dtypes", "variable_dims",
                "batch_anchor_ops", "batch_free_ops", "variable_dims_note", "max_rank",
                "folds_constants", "defects", "refused_io_kinds"):  # fmt: skip
        value = getattr(graph, key)
        if value not in ((), "", None) and value is not False:  # max_rank 0 is kept
            graph_out[key] = list(value) if isinstance(value, tuple) else value
    source = {k: v for k, v in profile.source.__dict__.items() if v}
    data: dict[str, Any] = {
        "name": profile.name,
        "description": profile.description,
        "date": profile.date,
        "unlisted_ops": profile.unlisted_ops,
        "expands_functions": profile.expands_functions,
        "unexpanded_functions": list(profile.unexpanded_functions),
        "notes": list(profile.notes),
        "source": source,
        "opsets": {d: r.text() for d, r in profile.opsets.items()},
        "graph": graph_out,
    }
    if profile.precision != Precision():
        data["precision"] = _precision_dict(profile.precision)
    data["ops"] = [_op_dict(r) for r in profile.ops]
    for key in ("notes", "unexpanded_functions"):
        if not data[key]:
            del data[key]
    return data


_ARRAY = re.compile(r"= \[\n((?:    [^\n\[\]{}]+,\n)+)\]")


def _compact(text: str, data: Mapping[str, Any]) -> str:
    """Put short scalar arrays on one line (tomli_w writes one item per line)."""
    compact = _ARRAY.sub(
        lambda m: "= [" + ", ".join(i.strip().rstrip(",") for i in m.group(1).splitlines()) + "]",
        text,
    )
    return compact if tomllib.loads(compact) == data else text


def dump_profile(profile: TargetProfile, path: str | os.PathLike[str], *, header: str = "") -> Path:
    """Validate and write ``profile`` as TOML atomically (temp file + rename); return the path.

    ``header`` is written as '#' comment lines at the top (for example how to regenerate it).
    """
    path = Path(path)
    data = profile_to_dict(profile)
    profile_from_dict(data, f"profile {profile.name!r}")  # never write what we cannot read
    text = _compact(tomli_w.dumps(data), data)
    if header:
        text = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines()) + "\n" + text
    # Temporary files are private; a profile is a shared data file.
    with atomic_path(path, mode=0o644) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
