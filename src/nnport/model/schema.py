"""ONNX schema facts check and the probe's derivation ask: dtypes a position allows, optional inputs,
which inputs are parameters."""

from __future__ import annotations

import onnx

from nnport.model.dtypes import valid_dtype


def schema_of(key: tuple[str, str, int]) -> onnx.defs.OpSchema | None:
    """The ONNX schema of (domain, op, version), or None when onnx has none."""
    domain, op, since = key
    try:
        return onnx.defs.get_schema(op, since, "" if domain == "ai.onnx" else domain)
    except Exception:
        return None


def schema_dtypes(key: tuple[str, str, int], side: str, pos: int) -> set[str]:
    """Dtypes the ONNX schema allows at one input/output position (empty when unknown)."""
    schema = schema_of(key)
    if schema is None:
        return set()
    params = list(schema.inputs if side == "in" else schema.outputs)
    if not params:
        return set()
    param = params[min(pos, len(params) - 1)]
    allowed = {c.type_param_str: c.allowed_type_strs for c in schema.type_constraints}
    names = set()
    for text in allowed.get(param.type_str, [param.type_str]):
        if text.startswith("tensor(") and text.endswith(")"):
            valid = valid_dtype(text[7:-1].replace("float", "float32").replace("float3216", "float16")
                                 .replace("double", "float64"))  # fmt: skip
            names.add(valid or "")
    names.discard("")
    return names


def optional_inputs(key: tuple[str, str, int]) -> set[int]:
    """Input positions the ONNX schema of (domain, op, version) marks optional."""
    return _optional(key, "inputs")


def optional_outputs(key: tuple[str, str, int]) -> set[int]:
    """Output positions the ONNX schema of (domain, op, version) marks optional."""
    return _optional(key, "outputs")


def _optional(key: tuple[str, str, int], side: str) -> set[int]:
    schema = schema_of(key)
    if schema is None:
        return set()
    optional = onnx.defs.OpSchema.FormalParameterOption.Optional
    return {i for i, p in enumerate(getattr(schema, side)) if p.option == optional}


def parameters(key: tuple[str, str, int], positions: set[int]) -> tuple[int, ...]:
    """Positions that are parameters (typed unlike input 0: shapes, scales, per-channel
    weights), not data inputs that merely happened to be frozen (Concat of 1-D tensors)."""
    schema = schema_of(key)
    if schema is None:
        return tuple(sorted(positions))
    params = list(schema.inputs)
    if not params:
        return ()
    first = params[0].type_str
    return tuple(p for p in sorted(positions) if p < len(params) and params[p].type_str != first)
