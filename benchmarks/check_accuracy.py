"""How often `nnport check` is right: its verdict against reality, per runnable target.

Reality: a model is deployable on a target when it converts, runs and matches ONNX Runtime on
the original model within tolerance (rtol 1e-3, atol 1e-4 x max|reference|; for node-suite cases
the case's own expected outputs and tolerance). Two sets of models:

- node suite: every ONNX backend node case at its own opset; reality is the probe's raw outcome
  (``benchmarks/results/probe-<backend>.json.gz``: the ``raw_json`` of ``probe_backend``, gzipped). For the
  probed profiles (openvino, ncnn) this set is in-sample: the profile was derived from it. The
  ncnn probe ran the 994 cases of pnnx's ops, and each whose inputs have a first axis other
  than 1 also cut to one sample (scored on its own line).
- zoo: real architectures from ``benchmarks/zoo.py``; reality is measured here (detectors on
  the seeded random input and on a blank image, where nothing is detected), each run in a
  probe worker subprocess (a runtime crash is a "not deployable" outcome, not a crash of the
  benchmark), and cached in ``--results`` so reruns only measure what is missing.

Prints the confusion matrix per target (TP: check says deployable and it is; FP: check says
deployable and it is not, the costly error; TN; FN) and the agreement, and times `check` on a
~100 MB model (ResNet-50).

    python benchmarks/check_accuracy.py --suite --zoo --opsets 13 --light
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import gzip
import json
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from zoo import DEFAULT_CACHE, ZooModel, iter_zoo

from nnport.check import check
from nnport.model.io import load
from nnport.probe.engine import DEFAULT_OPTIONS, CaseOutcome, Task
from nnport.probe.pool import run_tasks

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = ("onnxruntime", "openvino", "ncnn")
RTOL, ATOL_SCALE = 1e-3, 1e-4


@dataclasses.dataclass
class Matrix:
    """Confusion counts of check's verdict (positive = deployable) against reality."""

    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0
    fp_names: list[str] = dataclasses.field(default_factory=list)
    fn_names: list[str] = dataclasses.field(default_factory=list)

    def add(self, name: str, verdict: bool, real: bool) -> None:
        if verdict and real:
            self.tp += 1
        elif verdict:
            self.fp += 1
            self.fp_names.append(name)
        elif real:
            self.fn += 1
            self.fn_names.append(name)
        else:
            self.tn += 1

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    def line(self, label: str) -> str:
        agree = 100.0 * (self.tp + self.tn) / self.total if self.total else float("nan")
        return (
            f"{label:34s} n={self.total:5d}  TP={self.tp:5d} FP={self.fp:4d} "
            f"TN={self.tn:5d} FN={self.fn:4d}  agreement={agree:6.2f}%"
        )


def _verdict(path_or_model: Any, target: str, shapes: dict[str, tuple[int, ...]] | None) -> bool:
    model = load(path_or_model) if isinstance(path_or_model, (str, Path)) else path_or_model
    try:
        return bool(check(model, target, input_shapes=shapes).deployable)
    except Exception as exc:  # check itself failing is a "no" verdict, and worth seeing
        print(f"  check failed on {path_or_model} for {target}: {exc}", file=sys.stderr)
        return False


# ----------------------------------------------------------------------------- node suite


@functools.cache
def _probe_outcomes(raw: Path) -> dict[str, Any]:
    """A saved probe result, read once for the node-suite, cut and exporter-case lines."""
    return dict(json.loads(gzip.decompress(raw.read_bytes())))


def suite_matrix(
    target: str, raw: Path, variant: str = "", exporters: bool = False
) -> Matrix | None:
    """Check every probed case (own opset) against its probe outcome; with ``variant``
    ("batch1"), the cases the probe also ran cut to one sample (``probe_batch``); with
    ``exporters``, nnport's exporter cases (``probe_exporter``) instead of the suite's."""
    import onnx_ir as ir

    from nnport.probe.batch import BATCH_ONE, batch_one_variant
    from nnport.probe.engine import case_inputs, load_cases
    from nnport.probe.exporter import PREFIX

    if not raw.exists():
        print(f"  (no {raw.name}: run the {target} probe first)")
        return None
    data = _probe_outcomes(raw)
    real = {
        o["case"]: o["status"] == "pass"
        for o in data["outcomes"]
        if o["opset"] == o["original_opset"]
        and o["status"] != "unconvertible"
        and o.get("variant", "") == variant
        and o["case"].startswith(PREFIX) == exporters
    }
    matrix = Matrix()
    if not real:  # load_cases(names=[]) would mean every case
        return matrix
    for case in load_cases(names=sorted(real)):
        # the probe fed ncnn integer inputs as constants; check the same
        model, inputs = case_inputs(case, freeze=target == "ncnn")
        if target == "ncnn" and variant == BATCH_ONE:  # cut to one sample, as the probe ran it
            found = batch_one_variant(model, inputs)
            if found is None:
                continue
            model = found[0]
        try:
            verdict = _verdict(ir.serde.deserialize_model(model), target, None)
        except Exception as exc:
            print(f"  {case.name}: cannot load for check: {exc}", file=sys.stderr)
            verdict = False
        matrix.add(case.name, verdict, real[case.name])
    return matrix


# ----------------------------------------------------------------------------- zoo


def _reference(model: ZooModel, workdir: Path, blank: bool = False) -> tuple[Path, float] | str:
    """Inputs and ONNX Runtime outputs of the original, pickled for the probe worker; with
    ``blank``, float inputs are all zeros (an empty frame: a detector's no-detection path)."""
    from nnport.backends import make_runner
    from nnport.verify.inputs import generate_inputs

    try:
        ir_model = load(model.path)
        feeds = generate_inputs(ir_model, model.input_shapes, samples=1, seed=0)[0]
        if blank:
            feeds = {k: np.zeros_like(v) if v.dtype.kind == "f" else v for k, v in feeds.items()}
        with make_runner("onnxruntime", model.path) as runner:
            outputs = runner.infer(feeds)
            names = runner.output_names()  # type: ignore[attr-defined]
    except Exception as exc:
        return f"reference failed: {exc}"
    expected = [outputs[n] for n in names]
    scale = max(
        (float(np.max(np.abs(o))) for o in expected if o.size and o.dtype.kind == "f"), default=1.0
    )
    data = workdir / f"{model.name}-op{model.opset}{'-blank' if blank else ''}.pkl"
    with data.open("wb") as fh:
        pickle.dump(([feeds[k] for k in feeds], expected), fh)
    return data, ATOL_SCALE * max(scale, 1.0)


def measure_zoo(
    models: Iterable[ZooModel], targets: Iterable[str], cache: Path, timeout: float
) -> None:
    """Measure reality for every (model, target) not yet in ``cache`` (JSON lines)."""
    done = _read_reality(cache)
    with tempfile.TemporaryDirectory(prefix="nnport-accuracy-") as tmp:
        for model in models:
            key = f"{model.name}-op{model.opset}"
            todo = [t for t in targets if f"{key}|{t}" not in done]
            if not todo:
                continue
            # a detector also sees an empty frame: its no-detection path is other code
            refs = [_reference(model, Path(tmp))]
            if model.family == "detection":
                refs.append(_reference(model, Path(tmp), blank=True))
            for target in todo:
                outcome = {}
                start = time.perf_counter()
                for ref, label in zip(refs, ("", " (blank image)"), strict=False):
                    if isinstance(ref, str):
                        outcome = {"status": "error", "stage": "reference", "message": ref}
                        break
                    result = _run_reference(model, key, ref, target, timeout)
                    outcome = {"status": result.status, "stage": result.stage + label,
                               "message": result.message[:300]}  # fmt: skip
                    if result.status != "pass":
                        break
                outcome["seconds"] = round(time.perf_counter() - start, 1)
                line = {"model": key, "target": target, **outcome}
                print(
                    f"  {key:45s} {target:12s} {outcome['status']:8s} {outcome.get('message', '')[:90]}"
                )
                with cache.open("a") as fh:
                    fh.write(json.dumps(line) + "\n")


def _run_reference(
    model: ZooModel, key: str, ref: tuple[Path, float], target: str, timeout: float
) -> CaseOutcome:
    """Convert and run ``model`` on ``target`` in a probe worker against one reference."""
    data, atol = ref
    task = Task(key, model.name, "", "", model.opset, model.opset, model.path,
                 data, RTOL, atol, False, (), loose_dtype=True)  # fmt: skip
    options = dict(DEFAULT_OPTIONS[target])
    if target == "ncnn":
        options["input_shapes"] = model.input_shapes
    return run_tasks([task], target, options, timeout=timeout)[0]


def _read_reality(cache: Path) -> dict[str, dict[str, Any]]:
    if not cache.exists():
        return {}
    out = {}
    for line in cache.read_text().splitlines():
        if line.strip():
            item = json.loads(line)
            out[f"{item['model']}|{item['target']}"] = item
    return out


def zoo_matrix(models: list[ZooModel], target: str, cache: Path) -> Matrix:
    reality = _read_reality(cache)
    matrix = Matrix()
    for model in models:
        item = reality.get(f"{model.name}-op{model.opset}|{target}")
        if item is None or item["stage"] == "reference":
            continue
        verdict = _verdict(model.path, target, model.input_shapes)
        matrix.add(f"{model.name}-op{model.opset}", verdict, item["status"] == "pass")
    return matrix


# ----------------------------------------------------------------------------- speed


def time_check(models: list[ZooModel]) -> None:
    """Time check on the largest light-enough model (ResNet-50, ~100 MB) for each target."""
    big = [m for m in models if m.name == "resnet50"] or list(
        iter_zoo(names=["resnet50"], opsets=(17,))
    )
    if not big:
        print("  (resnet50 did not export)")
        return
    model = big[-1]
    size = model.path.stat().st_size / 1e6
    start = time.perf_counter()
    ir_model = load(model.path)
    load_s = time.perf_counter() - start
    print(f"  {model.name} op{model.opset} ({size:.0f} MB): load {load_s:.2f} s (baseline)")
    for target in (*TARGETS, "ascend310"):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            check(ir_model, target)
            times.append(time.perf_counter() - start)
        print(
            f"  check --target {target:12s} median {sorted(times)[1]:.2f} s  ({sorted(times)[1] / load_s:.2f}x load)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--suite", action="store_true", help="compare over the node suite")
    parser.add_argument("--zoo", action="store_true", help="compare over the model zoo")
    parser.add_argument("--speed", action="store_true", help="time check on ResNet-50")
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--opsets", default="11,13,17")
    parser.add_argument("--names", default="", help="zoo architectures or families (comma list)")
    parser.add_argument("--light", action="store_true", help="skip the heavy zoo models")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="zoo cache folder")
    parser.add_argument("--results", type=Path, default=RESULTS / "zoo-reality.jsonl")
    parser.add_argument("--no-measure", action="store_true", help="use cached reality only")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    targets = [t for t in args.targets.split(",") if t]
    if not (args.suite or args.zoo or args.speed):
        args.suite = args.zoo = args.speed = True
    overall = {t: Matrix() for t in targets}
    if args.suite:
        print("node suite (reality: probe outcomes at the cases' own opsets)")
        for target in targets:
            m = suite_matrix(target, RESULTS / f"probe-{target}.json.gz")
            if m is not None:
                print(m.line(f"  {target}"))
                _merge(overall[target], m)
            cut = suite_matrix(target, RESULTS / f"probe-{target}.json.gz", "batch1")
            if cut is not None and cut.total:
                print(cut.line(f"  {target} (cut to batch 1)"))
                _merge(overall[target], cut)
            extra = suite_matrix(target, RESULTS / f"probe-{target}.json.gz", exporters=True)
            if extra is not None and extra.total:
                print(extra.line(f"  {target} (exporter cases)"))
                _merge(overall[target], extra)
    models: list[ZooModel] = []
    if args.zoo or args.speed:
        opsets = tuple(int(o) for o in args.opsets.split(","))
        names = [n for n in args.names.split(",") if n] or None
        models = list(iter_zoo(args.cache, opsets, names, light=args.light))
    if args.zoo:
        print(f"zoo ({len(models)} exported models; reality: convert, run, match ONNX Runtime)")
        args.results.parent.mkdir(parents=True, exist_ok=True)
        if not args.no_measure:
            measure_zoo(models, targets, args.results, args.timeout)
        for target in targets:
            m = zoo_matrix(models, target, args.results)
            print(m.line(f"  {target}"))
            for name in m.fp_names:
                print(f"    FP (check says deployable, it is not): {name}")
            for name in m.fn_names:
                print(f"    FN (check says not deployable, it is): {name}")
            _merge(overall[target], m)
    if args.suite and args.zoo:
        print("overall")
        for target in targets:
            print(overall[target].line(f"  {target}"))
    if args.speed:
        print("check speed")
        time_check(models)
    return 0


def _merge(into: Matrix, other: Matrix) -> None:
    into.tp += other.tp
    into.fp += other.fp
    into.tn += other.tn
    into.fn += other.fn


if __name__ == "__main__":
    sys.exit(main())
