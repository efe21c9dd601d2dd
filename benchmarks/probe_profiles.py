"""Regenerate the shipped probed profiles (openvino.toml, ncnn.toml) exactly as they were made.

    python benchmarks/probe_profiles.py openvino --workers 8     # whole suite, opsets 17/13/11
    python benchmarks/probe_profiles.py ncnn --workers 2         # every case of pnnx's ops
    python benchmarks/probe_profiles.py ncnn --from-raw          # rewrite from the saved outcomes
    python benchmarks/probe_profiles.py openvino --rerun-failed "no output named"  # after a fix

Raw outcomes go to benchmarks/results/probe-<backend>.json.gz, a journal beside them lets an
interrupted probe resume. The ncnn probe runs, at the cases' own opsets, all 994 node-suite
cases of the ONNX ops pnnx 20261020 names in its ONNX rewrite patterns (read from the pnnx
binary) plus the element-wise ops it maps generically (about 11 minutes on 2 cores), and each
case whose inputs have a first axis other than 1 also cut to one sample
(``nnport.probe.batch``); ops of that table that no probed case passed are added from
the table, and the profile's source says so, except those a case run with a first axis of 1
refutes (``nnport.probe.table``). The zoo in benchmarks/check_accuracy.py is the
out-of-sample check: cases that test axis-0 and empty-tensor semantics are no op evidence
(``nnport.probe.derive.evidence``), so their limits do not refuse zoo models.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import logging
import re
import sys
import time
from pathlib import Path

from nnport.probe.annotate import annotate
from nnport.probe.derive import derive_profile
from nnport.probe.engine import (
    CaseOutcome,
    ProbeResult,
    as_written,
    exporter_note,
    probe_backend,
)
from nnport.probe.exporter import PREFIX, exporter_cases
from nnport.probe.reproduce import add_defects
from nnport.probe.table import newer_table_versions, refute_table_ops, supplement
from nnport.results import dumps, loads
from nnport.targets import Precision, TargetProfile, dump_profile
from nnport.targets.profile import OpRule

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PROFILES = ROOT / "src" / "nnport" / "targets" / "profiles"

# Ops pnnx converts into layers ncnn cannot run on real tensors (pnnx folds them only in constant
# shape arithmetic, which the profile's folds_constants accepts): Cast becomes Tensor.to, which
# `nnport convert --to ncnn` rejects; the comparisons and logic ops become torch.eq/gt/lt/
# logical_*/where, Range torch.arange, Tile torch.tile, and Shape crashes ncnn (measured on
# [1, 3, 8, 8] tensors by benchmarks/ncnn_layers.py).
NO_NCNN_LAYER = ("Cast", "Equal", "Greater", "Less", "Not", "And", "Or", "Where", "Range", "Shape",
                 "Tile")  # fmt: skip
# Limits on constant input values (input_values): pnnx turns a Slice with steps other than 1
# into Tensor.slice, which ncnn cannot run (benchmarks/ncnn_layers.py; LeViT-128S in the zoo).
NCNN_INPUT_VALUES = {"Slice": {"4": (1,)}}
NCNN_INPUT_VALUES_WHY = "other steps become Tensor.slice, which ncnn cannot run"
# Attributes to be set although ONNX gives them a default: pnnx can write a garbage axis into
# ncnn's param for a Split given `split` and no `axis` (the node suite's
# test_split_variable_parts_default_axis: `1=547985045`, depending on the file's bytes; with
# axis = 0 written out it converts right; measured by tests/test_check_ncnn_limits.py).
NCNN_REQUIRED = {"Split": ("axis",)}
NCNN_REQUIRED_WHY = "pnnx can misread a Split's default axis"
# Inputs typed like input 0 that must still be constants (the derivation takes such inputs for
# data): pnnx makes PRelu's slope the weights of a layer; a slope fed at run time does not
# convert (the node suite's test_prelu_example, as written and cut to one sample), a constant
# one does (nnport's exporter cases, as torch exports nn.PReLU).
NCNN_CONSTANT = {"PRelu": (1,)}
NCNN_CONSTANT_WHY = "the slope becomes a layer's weights"

PNNX_TABLE = [
    "ArgMax",
    "ArgMin",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Celu",
    "Clip",
    "ConstantOfShape",
    "Conv",
    "ConvTranspose",
    "DepthToSpace",
    "Elu",
    "Expand",
    "Flatten",
    "Gather",
    "GatherND",
    "Gelu",
    "Gemm",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "GridSample",
    "GroupNormalization",
    "HardSigmoid",
    "HardSwish",
    "InstanceNormalization",
    "LRN",
    "LayerNormalization",
    "LeakyRelu",
    "LogSoftmax",
    "MatMul",
    "MaxPool",
    "Mish",
    "PRelu",
    "Pad",
    "RMSNormalization",
    "Range",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceProd",
    "ReduceSum",
    "ReduceSumSquare",
    "Relu",
    "Reshape",
    "Resize",
    "Selu",
    "Shrink",
    "Sigmoid",
    "Slice",
    "Softmax",
    "Softplus",
    "SpaceToDepth",
    "Squeeze",
    "Tile",
    "Transpose",
    "Unsqueeze",
    "Upsample",
]
GENERIC = [
    "Abs",
    "Acos",
    "Add",
    "And",
    "Asin",
    "Atan",
    "Ceil",
    "Concat",
    "Cos",
    "Cosh",
    "Div",
    "Einsum",
    "Equal",
    "Erf",
    "Exp",
    "Floor",
    "Greater",
    "Identity",
    "Less",
    "Log",
    "Max",
    "Min",
    "Mul",
    "Neg",
    "Not",
    "Or",
    "Pow",
    "Reciprocal",
    "Round",
    "Sign",
    "Sin",
    "Sinh",
    "Split",
    "Sqrt",
    "Sub",
    "Sum",
    "Tan",
    "Tanh",
    "Where",
    "Dropout",
    "Shape",
    "TopK",
    "CumSum",
    "Softsign",
    "ThresholdedRelu",
    "MeanVarianceNormalization",
]


def _rerun(result: ProbeResult, text: str, workers: int) -> ProbeResult:
    """Run again every case with an outcome whose message contains ``text`` (all its opsets)."""
    cases = sorted({o.case for o in result.outcomes if text in o.message})
    print(f"rerunning {len(cases)} cases whose outcome says {text!r}")
    opsets = sorted({o.opset for o in result.outcomes if o.opset != o.original_opset}, reverse=True)
    fresh = probe_backend(result.backend, cases=cases, opsets=opsets, workers=workers,
                          options=result.options)  # fmt: skip
    print(f"  {sum(o.status == 'pass' for o in fresh.at_own_opset())} of {len(cases)} now pass")
    return _merge(result, fresh)


def _add_exporters(result: ProbeResult, workers: int) -> ProbeResult:
    """Run nnport's exporter cases (``nnport.probe.exporter``) the saved outcomes lack,
    at the saved opsets, and add their outcomes."""
    have = {o.case for o in result.outcomes}
    cases = [c.name for c in exporter_cases() if c.name not in have]
    if not cases:
        return result
    print(f"running {len(cases)} exporter cases")
    opsets = sorted({o.opset for o in result.outcomes if o.opset != o.original_opset}, reverse=True)
    fresh = probe_backend(result.backend, cases=cases, opsets=opsets, workers=workers,
                          options=result.options)  # fmt: skip
    print(f"  {sum(o.status == 'pass' for o in fresh.at_own_opset())} of {len(cases)} pass")
    merged = _merge(result, fresh)
    count = sum(c.startswith(PREFIX) for c in {o.case for o in merged.outcomes})
    base = re.sub(re.escape(exporter_note(1)).replace("1", r"\d+"), "", result.source)
    return dataclasses.replace(merged, cases=result.cases + len(cases),
                               source=base + exporter_note(count))  # fmt: skip


def _merge(result: ProbeResult, fresh: ProbeResult) -> ProbeResult:
    """``result`` with ``fresh``'s outcomes in place of the same runs', and its new runs added."""
    new = {(o.case, o.opset, o.variant): o for o in fresh.outcomes}
    outcomes = tuple(new.pop((o.case, o.opset, o.variant), o) for o in result.outcomes)
    outcomes += tuple(new.values())  # runs the saved result did not have
    outcomes = tuple(sorted(outcomes, key=lambda o: (o.case, -o.opset)))
    passed = sum(o.status == "pass" for o in as_written(outcomes))
    return dataclasses.replace(result, outcomes=outcomes, passed=passed)


def _add_batch_one(result: ProbeResult, workers: int) -> ProbeResult:
    """Record each saved outcome's input first-axis length and run the batch-one variants of
    the failed cases that have none (results saved before the probe made variants)."""
    import tempfile

    from nnport.probe.batch import leading_dim
    from nnport.probe.engine import _build_tasks, case_inputs, load_cases
    from nnport.probe.pool import run_tasks

    cases = {c.name: c for c in load_cases(names=sorted({o.case for o in result.outcomes}))}
    ncnn = result.backend == "ncnn"
    lead = {name: leading_dim(case_inputs(case, ncnn)[1]) for name, case in cases.items()}
    outcomes = [o if o.variant else dataclasses.replace(o, leading_dim=lead.get(o.case, 0))
                for o in result.outcomes]  # fmt: skip
    have = {o.case for o in outcomes if o.variant}
    todo = [cases[o.case] for o in outcomes
            if not o.variant and o.status != "pass" and o.leading_dim > 1 and o.case not in have
            and o.opset == o.original_opset and o.case in cases]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="nnport-probe-") as tmp:
        tasks, _ = _build_tasks(todo, (), Path(tmp), freeze=True, batch_one=True)
        tasks = [t for t in tasks if t.variant]
        print(f"running {len(tasks)} batch-one variants of {len(todo)} failed cases")
        start = time.perf_counter()

        def progress(done: int, total: int, outcome: CaseOutcome) -> None:
            print(f"  {done}/{total} {outcome.case}: {outcome.status} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip

        ran = run_tasks(tasks, result.backend, result.options, workers=workers, timeout=120,
                        progress=progress)  # fmt: skip
    return dataclasses.replace(result, outcomes=tuple(outcomes) + tuple(ran))


# The number formats each device computes in, recorded by hand from the runtimes' documents
# (a probe of node cases cannot see them): docs/targets.md, "Precision".
PRECISION = {
    "openvino": Precision(
        default="bf16", options=("fp32", "fp16", "int8"), requires="cpu-bf16", fallback="fp32",
        flags={"bf16": "INFERENCE_PRECISION_HINT=bf16 (the default where the CPU has bf16 units)",
               "fp32": "INFERENCE_PRECISION_HINT=f32", "fp16": "INFERENCE_PRECISION_HINT=f16",
               "int8": "a QDQ model (NNCF or onnxruntime.quantization)"},
        qdq="consumes",
        qdq_note="OpenVINO reads QuantizeLinear/DequantizeLinear pairs as FakeQuantize and runs "
        "the quantized regions with int8 kernels (low-precision transformations)",
        source="OpenVINO CPU device documentation: inference_precision_hint is bf16 by default "
        "on CPUs with native bf16 (AVX512_BF16 or AMX), f32 elsewhere; quantized models are read "
        "in QDQ form",
        url="https://docs.openvino.ai/2024/openvino-workflow/running-inference/inference-devices-and-modes/cpu-device.html",
    ),
    "ncnn": Precision(
        default="fp16", options=("fp32", "int8"),
        flags={"fp16": "opt.use_fp16_packed/use_fp16_storage/use_fp16_arithmetic = true (the "
                       "defaults, effective on ARM CPUs with fp16 arithmetic and on Vulkan)",
               "fp32": "opt.use_fp16_packed = use_fp16_storage = use_fp16_arithmetic = false",
               "int8": "ncnn2table (calibration table from images) then ncnn2int8"},
        qdq="calibrates",
        qdq_note="pnnx leaves QuantizeLinear/DequantizeLinear unconverted; ncnn quantizes a "
        "float model with its own tools (ncnn2table writes a calibration table, ncnn2int8 "
        "applies it)",
        source="ncnn src/option.cpp (fp16 packed/storage/arithmetic on by default) and the ncnn "
        "wiki's quantized int8 inference page",
        url="https://github.com/Tencent/ncnn/blob/master/src/option.cpp",
    ),
}  # fmt: skip


def build_profile(result: ProbeResult, backend: str) -> TargetProfile:
    """The shipped profile for ``backend`` from its probe outcomes: the derivation, measured
    runtime defects, and for ncnn pnnx's table (less the refuted ops) and Slice's steps; the
    number formats (PRECISION) recorded by hand."""
    profile = add_defects(derive_profile(result, backend), backend)
    if backend in PRECISION:
        profile = dataclasses.replace(profile, precision=PRECISION[backend])
    how = f"Regenerate: python benchmarks/probe_profiles.py {backend} (--from-raw: from the saved outcomes)"
    notes = tuple(how if n.startswith("Regenerate:") else n for n in profile.notes)
    profile = dataclasses.replace(profile, notes=notes)
    if backend != "ncnn":
        return profile
    table = [op for op in PNNX_TABLE + GENERIC if op not in NO_NCNN_LAYER]
    why = "pnnx 20261020's ONNX op table"
    found = refute_table_ops(result, table, profile, why)
    refused = found.limits()
    logging.info("table ops left out (failed at batch 1 for no other reason): %s; values "
                 "refused: %s; outputs refused: %s", sorted(found.ops), refused, found.outputs)  # fmt: skip
    kept = [op for op in table if op not in found.ops]
    profile = supplement(profile, kept, why, refused, found.outputs)
    profile = newer_table_versions(profile, table, result, why)
    values = "; ".join(
        f"{op} {name}={list(v)}" for op, t in sorted(refused.items()) for name, v in t.items()
    )
    outputs = "; ".join(f"{op} {sorted(p)}" for op, p in sorted(found.outputs.items()))
    left_out = (
        f"Left out of the table's ops, refuted by cases that failed with a first axis of 1 "
        f"and nothing else to blame: {', '.join(sorted(found.ops))}; refused values: {values}"
        + (f"; refused optional outputs: {outputs}" if outputs else "")
    )
    ops = tuple(_recorded_by_hand(r) for r in profile.ops)
    return dataclasses.replace(profile, notes=(*profile.notes, left_out), ops=ops)


def _recorded_by_hand(rule: OpRule) -> OpRule:
    """``rule`` with the ncnn limits measured outside the probe: Slice's steps, Split's axis,
    PRelu's constant slope."""
    if rule.op in NCNN_INPUT_VALUES:
        values = {**rule.input_values, **NCNN_INPUT_VALUES[rule.op]}
        rule = dataclasses.replace(rule, input_values=values,
                                   note=f"{NCNN_INPUT_VALUES_WHY}; {rule.note}")  # fmt: skip
    if rule.op in NCNN_REQUIRED:
        required = tuple(sorted({*rule.required_attributes, *NCNN_REQUIRED[rule.op]}))
        rule = dataclasses.replace(rule, required_attributes=required,
                                   note=f"{NCNN_REQUIRED_WHY}; {rule.note}")  # fmt: skip
    if rule.op in NCNN_CONSTANT:
        constant = tuple(sorted({*rule.constant_inputs, *NCNN_CONSTANT[rule.op]}))
        rule = dataclasses.replace(rule, constant_inputs=constant,
                                   note=f"{NCNN_CONSTANT_WHY}; {rule.note}")  # fmt: skip
    return rule


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("backend", choices=["openvino", "ncnn", "onnxruntime"])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--from-raw", action="store_true", help="only rewrite the profile")
    parser.add_argument(
        "--rerun-failed",
        default="",
        metavar="TEXT",
        help="rerun the saved cases whose failure message contains TEXT (after a runner fix), "
        "replace their outcomes in the raw file, then rewrite the profile",
    )
    parser.add_argument(
        "--add-batch-one",
        action="store_true",
        help="run the batch-one variants the saved outcomes lack (ncnn), then rewrite the profile",
    )
    parser.add_argument(
        "--add-exporters",
        action="store_true",
        help="run nnport's exporter cases the saved outcomes lack, then rewrite the profile",
    )
    parser.add_argument(
        "--annotate",
        action="store_true",
        help="recompute the node facts the derivation reads (dtypes, attributes, ranks) from the "
        "case models into the raw file, then rewrite the profile",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    raw = RESULTS / f"probe-{args.backend}.json.gz"
    saved = args.rerun_failed or args.add_batch_one or args.add_exporters or args.annotate
    if args.from_raw or saved:
        result = loads(ProbeResult, gzip.decompress(raw.read_bytes()).decode())
        if args.add_exporters:
            result = _add_exporters(result, args.workers)
            raw.write_bytes(gzip.compress(dumps(result, indent=None).encode()))
        if args.add_batch_one:
            result = _add_batch_one(result, args.workers)
            raw.write_bytes(gzip.compress(dumps(result, indent=None).encode()))
        if args.rerun_failed:
            result = _rerun(result, args.rerun_failed, args.workers)
            raw.write_bytes(gzip.compress(dumps(result, indent=None).encode()))
        if args.annotate or not any(o.graph_inputs or o.graph_outputs for o in result.outcomes):
            # saved by an older probe: recompute what the derivation reads from the case models
            result = annotate(result)
            raw.write_bytes(gzip.compress(dumps(result, indent=None).encode()))
    else:
        start = time.perf_counter()

        def progress(done: int, total: int, outcome: CaseOutcome) -> None:
            if done % 100 == 0 or done == total:
                print(f"{done}/{total} runs, {time.perf_counter() - start:.0f} s", flush=True)

        ncnn = args.backend == "ncnn"
        journal = RESULTS / f"probe-{args.backend}.journal.jsonl"
        result = probe_backend(
            args.backend,
            ops=PNNX_TABLE + GENERIC if ncnn else None,
            opsets=() if ncnn else (17, 13, 11),
            workers=args.workers,
            timeout=120 if ncnn else 60,
            progress=progress,
            journal=journal,
        )
        raw.write_bytes(gzip.compress(dumps(result, indent=None).encode()))
        journal.unlink(
            missing_ok=True
        )  # finished: a later probe (after an upgrade) must not reuse its runs
    profile = build_profile(result, args.backend)
    header = (
        f"Generated by benchmarks/probe_profiles.py {args.backend} ({profile.source.probe});\n"
        "do not edit by hand: rerun it after upgrading the runtime (see docs/probe.md)."
    )
    dump_profile(profile, PROFILES / f"{args.backend}.toml", header=header)
    print(
        f"{args.backend}: {result.passed} of {result.cases} cases pass; {len(profile.ops)} op entries"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
