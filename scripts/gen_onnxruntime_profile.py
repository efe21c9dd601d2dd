"""Regenerate src/nnport/targets/profiles/onnxruntime.toml from ONNX Runtime's CPU kernel registry.

Usage: python scripts/gen_onnxruntime_profile.py [OUT.toml]

Each registered CPU kernel (domain, op, since-version range, type constraints) becomes one
``[[ops]]`` entry; type constraints are mapped to input/output positions through the ONNX schema
of the op at that version, so ``check`` sees which dtypes each position accepts.

The registry says nothing about what ONNX Runtime's Python API can feed and return: the graph
input/output element types come from the saved ONNX Runtime probe
(``benchmarks/results/probe-onnxruntime.json.gz``): a type that occurs at the graph boundary of
failing cases and of no passing one is refused (bfloat16, float8, 4- and 2-bit integers: numpy
has no such dtypes, so sessions load but cannot be fed or read). Nor does the registry say which
attribute values a kernel refuses when the session loads: the probe's load failures add those
(``with_probe_limits``: LSTM, GRU and RNN ``layout = 1``). Limits a kernel enforces only when it
runs are recorded by hand in ``RUN_LIMITS``, each with the kernel's message; a test runs each on
ONNX Runtime. Shape checks a kernel makes when it runs are ``[graph] defects``
(``nnport.check.defects.registry``), recorded when their repro still fails on this ONNX Runtime.
"""

from __future__ import annotations

import dataclasses
import datetime
import gzip
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import onnx
import onnx.defs
import onnxruntime
from onnxruntime.capi import _pybind_state as ort_c

from nnport.model.dtypes import dtype_name
from nnport.targets import (
    GraphRules,
    OpRule,
    Precision,
    Source,
    TargetProfile,
    VersionRange,
    dump_profile,
)

ROOT = Path(__file__).resolve().parents[1]
PROBE_RAW = ROOT / "benchmarks" / "results" / "probe-onnxruntime.json.gz"
OUT = ROOT / "src" / "nnport" / "targets" / "profiles" / "onnxruntime.toml"
OPEN_END = 2147483647
SKIP_DOMAINS = {"com.microsoft.nchwc"}  # internal layout ops created by ORT's own optimizer
# Limits a kernel enforces only when it runs (the session loads): the registry and the load
# failures cannot show them. Each is checked against ONNX Runtime by tests/test_check_inputs.py.
RUN_LIMITS: dict[tuple[str, str], dict[str, Any]] = {
    # conv_integer.cc: "IsScalarOr1ElementVector(W_Zero_Point) was false. Non per-tensor
    # quantization is not supported now." (the ONNX spec allows a per-channel w_zero_point)
    ("ai.onnx", "ConvInteger"): {
        "one_element_inputs": (2, 3),
        "note": "per-tensor zero points only: the kernel refuses a per-channel w_zero_point",
    },
}
_TENSOR_TYPES = {
    "float": "float32",
    "double": "float64",
    "float16": "float16",
    "bfloat16": "bfloat16",
    "string": "string",
    "bool": "bool",
}


def _dtype(type_str: str) -> str | None:
    """'tensor(float)' -> 'float32'; None for sequences, optionals and exotic types."""
    if not type_str.startswith("tensor(") or not type_str.endswith(")"):
        return None
    inner = type_str[len("tensor(") : -1]
    if inner in _TENSOR_TYPES:
        return _TENSOR_TYPES[inner]
    try:
        return dtype_name(onnx_ir_dtype(inner))
    except ValueError:
        return None


def onnx_ir_dtype(inner: str):  # type: ignore[no-untyped-def]
    """Map an ONNX type string ('int64', 'float8e4m3fn') to an onnx-ir DataType."""
    import onnx_ir as ir

    wanted = inner.replace("_", "").lower()
    for dtype in ir.DataType:
        if dtype.name.replace("_", "").lower() == wanted:
            return dtype
    raise ValueError(inner)


def _positions(
    formals: list[onnx.defs.OpSchema.FormalParameter], constraints: dict[str, set[str]]
) -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    for index, formal in enumerate(formals):
        allowed = constraints.get(formal.type_str)
        if allowed is None:
            continue
        names = tuple(sorted({d for d in (_dtype(t) for t in allowed) if d}))
        if not names:
            continue
        table[str(index)] = names
        variadic = formal.option == onnx.defs.OpSchema.FormalParameterOption.Variadic
        if variadic and index == len(formals) - 1:
            table["*"] = names
    return table


def _schema_versions() -> dict[tuple[str, str], list[int]]:
    """(domain, op) -> sorted since-versions of every schema ORT itself knows for the op."""
    versions: dict[tuple[str, str], set[int]] = defaultdict(set)
    for schema in ort_c.get_all_operator_schema():
        versions[(schema.domain, schema.name)].add(schema.since_version)
    return {key: sorted(found) for key, found in versions.items()}


def _opset_range(since: list[int], start: int, end: int) -> VersionRange:
    """Model-opset versions a kernel registered for since-versions [start, end] serves.

    ORT matches an open-ended kernel ([start, INT_MAX]) only to nodes whose schema
    since-version is exactly ``start``, and a closed one to since-versions in [start, end];
    so the kernel serves every opset up to the next schema change after its last version.
    """
    last = start if end >= OPEN_END else end
    later = [v for v in since if v > last]
    return VersionRange(start, later[0] - 1 if later else None)


def _with_float16(table: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """ORT runs float16 nodes that lack a float16 CPU kernel in float32 (it inserts Casts)."""
    return {k: tuple(sorted({*v, "float16"})) if "float32" in v else v for k, v in table.items()}


def _variants(kernels: list[dict[str, set[str]]]) -> list[dict[str, set[str]]]:
    """The type combinations a group of kernels (same op and versions) accepts.

    Kernels typed on one constraint (Add<float>, Add<double>, ...) merge into one entry; kernels
    typed on several (OneHot<in, out, depth>) stay separate, since ORT has only those combos.
    """
    names = {frozenset(k) for k in kernels}
    if len(names) == 1 and len(next(iter(names))) <= 1:
        merged: dict[str, set[str]] = defaultdict(set)
        for kernel in kernels:
            for name, types in kernel.items():
                merged[name] |= types
        return [merged]
    unique: list[dict[str, set[str]]] = []
    for kernel in kernels:
        if kernel not in unique:
            unique.append(kernel)
    return unique


def _unexpanded_functions(kernels: set[tuple[str, str]], top: int) -> tuple[str, ...]:
    """Function ops (no kernel) that ORT refuses: tried on the ONNX node suite's one-node cases
    at their own opset; one it accepts there is tried in a model of each later opset up to
    ``top`` too ('Swish:25+': ORT expands Swish-24 only in opset-24 models)."""
    from onnx.backend.test.loader import load_model_tests

    refused: set[str] = set()
    accepted: dict[str, onnx.ModelProto] = {}
    for case in load_model_tests(kind="node"):
        model = case.model
        if model is None or len(model.graph.node) != 1:
            continue
        node = model.graph.node[0]
        if node.domain or ("", node.op_type) in kernels:
            continue
        error = _load_error(model)
        if not error:
            accepted[node.op_type] = model
        elif "NOT_IMPLEMENTED" in error:
            refused.add(node.op_type)
    found = sorted(refused - set(accepted))
    for op, model in sorted(accepted.items()):
        own = max(i.version for i in model.opset_import if i.domain in ("", "ai.onnx"))
        for opset in range(own + 1, top + 1):
            later = onnx.ModelProto()
            later.CopyFrom(model)
            for imp in later.opset_import:
                if imp.domain in ("", "ai.onnx"):
                    imp.version = opset
            if "NOT_IMPLEMENTED" in _load_error(later):
                found.append(f"{op}:{opset}+")
                break
    return tuple(found)


def _load_error(model: onnx.ModelProto) -> str:
    """Why an ORT CPU session does not create ('' when it does)."""
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4
    try:
        onnxruntime.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # the message says whether a kernel was missing
        return str(exc) or type(exc).__name__
    return ""


def probe_graph_rules(probe: Any) -> GraphRules:
    """Graph I/O element types (and non-tensor kinds) from the saved probe outcomes."""
    from nnport.probe.graph import graph_rules

    if probe is None:
        return GraphRules(static_shapes=False, int64="native")
    return graph_rules(probe.outcomes, static_shapes=False)


def _load_probe() -> Any:
    """The saved ONNX Runtime probe (annotated first if saved by an older probe), or None."""
    from nnport.probe.annotate import annotate
    from nnport.probe.engine import ProbeResult
    from nnport.results import dumps, loads

    if not PROBE_RAW.exists():
        return None
    result = loads(ProbeResult, gzip.decompress(PROBE_RAW.read_bytes()).decode())
    if not any(o.graph_inputs or o.graph_outputs for o in result.outcomes):
        result = annotate(result)
        PROBE_RAW.write_bytes(gzip.compress(dumps(result, indent=None).encode()))
    return result


def _overlap(a: tuple[VersionRange, ...], b: tuple[VersionRange, ...]) -> bool:
    top = 1 << 30
    return any(x.lo <= (y.hi or top) and y.lo <= (x.hi or top) for x in a for y in b)


def with_probe_limits(rules: list[OpRule], probe: Any) -> list[OpRule]:
    """Add the attribute and optional-input limits that the probe's load failures show (ORT
    registers an LSTM kernel but refuses ``layout = 1`` when the session loads). Only failures
    at session creation count: a wrong number (Dropout in training mode, DFT tolerances) says
    nothing about what loads."""
    from nnport.probe.derive import derive_rules

    if probe is None:
        return rules
    loaded = [o for o in probe.outcomes if o.status == "pass" or o.stage == "convert"]
    limited = [r for r in derive_rules(loaded)
               if r.forbidden_attributes or r.attributes or r.absent_inputs]  # fmt: skip
    merged = []
    for rule in rules:
        for found in limited:
            if (found.domain, found.op) != (rule.domain, rule.op):
                continue
            if not _overlap(found.versions, rule.versions):
                continue
            rule = dataclasses.replace(
                rule,
                attributes={**rule.attributes, **found.attributes},
                forbidden_attributes={**rule.forbidden_attributes, **found.forbidden_attributes},
                absent_inputs=tuple(sorted({*rule.absent_inputs, *found.absent_inputs})),
                note=f"refused at session load in the probe ({found.note.removeprefix('probe: ')})",
            )
        merged.append(rule)
    return merged


def with_run_limits(rules: list[OpRule]) -> list[OpRule]:
    """The rules with ``RUN_LIMITS`` applied to every entry of their ops."""
    return [
        dataclasses.replace(rule, **RUN_LIMITS[(rule.domain, rule.op)])
        if (rule.domain, rule.op) in RUN_LIMITS else rule
        for rule in rules
    ]  # fmt: skip


def build_profile() -> TargetProfile:
    """Group the CPU kernels by (domain, op, version range) and turn each group into OpRules."""
    probe = _load_probe()
    groups: dict[tuple[str, str, int, int], list[dict[str, set[str]]]] = defaultdict(list)
    for kernel in ort_c.get_all_opkernel_def():
        if kernel.provider != "CPUExecutionProvider" or kernel.domain in SKIP_DOMAINS:
            continue
        start, end = kernel.version_range
        key = (kernel.domain, kernel.op_name, start, end)
        groups[key].append({name: set(types) for name, types in kernel.type_constraints.items()})
    since_versions = _schema_versions()
    rules: list[OpRule] = []
    max_version: dict[str, int] = defaultdict(int)
    for (domain, op, start, end), kernels in sorted(groups.items()):
        domain_name = domain or "ai.onnx"
        max_version[domain_name] = max(max_version[domain_name], start)
        versions = (_opset_range(since_versions.get((domain, op), []), start, end),)
        try:
            schema = onnx.defs.get_schema(op, max_inclusive_version=start, domain=domain)
        except onnx.defs.SchemaError:
            schema = None  # contrib op without a schema in the onnx package: versions only
        for constraints in _variants(kernels):
            inputs: dict[str, tuple[str, ...]] = {}
            outputs: dict[str, tuple[str, ...]] = {}
            if schema is not None:
                inputs = _with_float16(_positions(list(schema.inputs), constraints))
                outputs = _with_float16(_positions(list(schema.outputs), constraints))
            rules.append(
                OpRule(
                    op=op,
                    domain=domain_name,
                    versions=versions,
                    input_dtypes=inputs,
                    output_dtypes=outputs,
                )
            )
    # Constant nodes are folded into initializers when the session loads; no kernel is needed.
    rules.append(OpRule(op="Constant", note="folded into an initializer when the session loads"))
    top = min(max_version["ai.onnx"], onnx.defs.onnx_opset_version())
    return TargetProfile(
        name="onnxruntime",
        description=f"ONNX Runtime {onnxruntime.__version__}, CPU execution provider",
        date=datetime.date.today().isoformat(),
        source=Source(
            document="ONNX Runtime CPU kernel registry (get_all_opkernel_def)",
            version=f"onnxruntime {onnxruntime.__version__}, onnx {onnx.__version__}",
            url="https://github.com/microsoft/onnxruntime/blob/main/docs/OperatorKernels.md",
        ),
        opsets={
            "ai.onnx": VersionRange(1, top),
            "ai.onnx.ml": VersionRange(1, max(max_version["ai.onnx.ml"], 1)),
            "com.microsoft": VersionRange(1, None),
        },
        graph=probe_graph_rules(probe),
        ops=tuple(with_run_limits(with_probe_limits(rules, probe))),
        unlisted_ops="unsupported",
        expands_functions=True,
        unexpanded_functions=_unexpanded_functions({(d, o) for d, o, _, _ in groups}, top),
        notes=(
            "A kernel serves the opsets up to the op's next schema change: ORT matches an "
            "open-ended kernel only to its own since-version.",
            "float16 is accepted wherever float32 is: ORT runs float16 nodes without a float16 "
            "CPU kernel in float32 by inserting Casts.",
            "Ops without a kernel whose ONNX schema has a function body are expanded at load, "
            "except unexpanded_functions: those ORT refused on the ONNX node suite.",
            "Graph input/output dtypes: from the ONNX Runtime probe of the node suite; the types "
            "left out occur only at the boundary of failing cases (the Python API has no numpy "
            "dtype for them).",
            "Attribute and optional-input limits: from the probe's cases that failed to load "
            "(for example LSTM layout = 1), added to the kernel entries of those versions.",
            "Limits enforced only when a kernel runs (ConvInteger's per-tensor zero points): "
            "recorded by hand from the kernel's message (RUN_LIMITS in the script).",
        ),
    )


# The number format ORT's CPU provider computes in, recorded by hand (docs/targets.md).
PRECISION = Precision(
    default="fp32",
    options=("fp16", "int8"),
    flags={"fp32": "a float32 model (as exported)", "fp16": "a float16 model",
           "int8": "a QDQ model (onnxruntime.quantization)"},
    qdq="consumes",
    qdq_note="ONNX Runtime runs QDQ models as is, fusing DequantizeLinear -> op -> "
    "QuantizeLinear into its quantized kernels",
    source="ONNX Runtime documentation: the CPU provider computes in the model's own types; "
    "quantized models in the QDQ format run as is",
    url="https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html",
)  # fmt: skip


def main(argv: list[str]) -> int:
    """Write the profile (default: the shipped onnxruntime.toml)."""
    from nnport.probe.reproduce import add_defects

    out = Path(argv[1]) if len(argv) > 1 else OUT
    profile = add_defects(build_profile(), "onnxruntime")  # the kernels' run-time refusals
    profile = dataclasses.replace(profile, precision=PRECISION)
    dump_profile(
        profile,
        out,
        header=(
            "Generated by scripts/gen_onnxruntime_profile.py from ONNX Runtime's kernel registry;\n"
            "do not edit by hand: rerun the script after upgrading onnxruntime."
        ),
    )
    print(f"wrote {out}: {len(profile.ops)} kernel entries, {len(profile.op_names())} ops")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
