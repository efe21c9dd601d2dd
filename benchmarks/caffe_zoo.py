"""ONNX -> Caffe over the model zoo (benchmarks/zoo.py): every model `fix -t nnie` makes deployable
is converted to Caffe, loaded in OpenCV's Caffe importer and compared with ONNX Runtime.

    python benchmarks/caffe_zoo.py                       # opset 17 (as fix_zoo), every architecture
    python benchmarks/caffe_zoo.py --names resnet18,tile_vector_mul --json out.json

Per model: fix (each pass verified on ONNX Runtime), then `convert --to caffe` of the fixed model
(or of its device part when fix split post-processing off to the host), then the Caffe model on
OpenCV against the original (device part) on ONNX Runtime at the runtime tolerance port uses
(rtol 1e-3, atol 1e-4). The examples tile_broadcast.onnx and tile_vector_mul.onnx run first.
Prints one row per model (layers, max abs error, that error over the output's largest value,
conversion and compare seconds).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from zoo import DEFAULT_CACHE, iter_zoo

from nnport.backends.caffe.convert import convert_to_caffe
from nnport.errors import NnportError
from nnport.model.io import load
from nnport.passes import fix
from nnport.verify.compare import CompareOptions, compare

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_one(path: Path, shapes: dict[str, tuple[int, ...]]) -> dict[str, object]:
    """fix -t nnie, convert the fixed model to Caffe, compare it on OpenCV with the original."""
    start = time.perf_counter()
    try:
        original = load(path)
        result = fix(original, "nnie", input_shapes=shapes or None)
    except Exception as exc:  # a crash of fix is a failure, counted as such
        return {"fixed": False, "error": f"fix: {type(exc).__name__}: {str(exc)[:160]}"}
    if not (result.deployable and result.verified) or result.model is None:
        left = sorted({f"{r.op or 'model'}:{r.rule}" for r in result.remaining})
        return {"fixed": False, "error": "not deployable: " + ", ".join(left[:4])}
    fixed = result.model
    reference = result.device_source if result.split is not None else original
    shapes = dict(result.input_shapes) or shapes
    row: dict[str, object] = {"fixed": True, "split": result.split is not None}
    with tempfile.TemporaryDirectory(prefix="nnport-caffe-zoo-") as tmp:
        t = time.perf_counter()
        try:
            caffe = convert_to_caffe(fixed, Path(tmp) / "out", input_shapes=shapes or None)
        except NnportError as exc:
            return {**row, "converted": False, "error": f"convert: {exc.one_line()[:200]}"}
        row.update(converted=True, convert_seconds=time.perf_counter() - t,
                   layers=sum(len(m.layers) for m in caffe.layers),
                   layer_types=sorted({t for m in caffe.layers for t in m.types}))  # fmt: skip
    t = time.perf_counter()
    options = CompareOptions(rtol=1e-3, atol=1e-4, samples=2, input_shapes=shapes or None)
    try:
        compared = compare(reference, against=fixed, backend="caffe", options=options)
    except NnportError as exc:
        return {**row, "matched": False, "error": f"compare: {exc.one_line()[:200]}"}
    worst = max(compared.outputs, key=lambda o: o.max_abs_err / max(o.reference_max_abs, 1e-30))
    row.update(
        matched=compared.passed,
        max_abs_err=worst.max_abs_err,
        # Error relative to the output's size: random-weight zoo outputs can be tiny (1e-9).
        rel_err=worst.max_abs_err / max(worst.reference_max_abs, 1e-30),
        ref_max_abs=worst.reference_max_abs,
        cosine=min(o.cosine for o in compared.outputs),
        compare_seconds=time.perf_counter() - t,
        seconds=time.perf_counter() - start,
        opencv=compared.candidate.config.get("runtime", ""),
    )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--opsets", default="17")
    parser.add_argument("--names", default="", help="comma-separated architectures or examples")
    parser.add_argument("--light", action="store_true", help="skip heavy models")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--json", type=Path, default=None, help="write every result here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    warnings.simplefilter("ignore")
    names = [n for n in args.names.split(",") if n] or None
    rows: list[dict[str, object]] = []
    header = (
        f"{'model':<28}{'op':>4}  {'result':<12}{'layers':>7}{'max abs err':>13}{'/ max |ref|':>13}"
    )
    print(header + f"{'convert s':>11}{'compare s':>11}")
    entries: list[tuple[str, int, Path, dict[str, tuple[int, ...]]]] = [
        (p.stem, 13, p, {}) for p in (EXAMPLES / "tile_broadcast.onnx", EXAMPLES / "tile_vector_mul.onnx")
        if names is None or p.stem in names
    ]  # fmt: skip
    opsets = [int(o) for o in args.opsets.split(",")]
    zoo = (
        (e.name, e.opset, e.path, e.input_shapes)
        for e in iter_zoo(args.cache, opsets, names, light=args.light)
    )
    for name, opset, path, shapes in itertools.chain(entries, zoo):  # the zoo exports lazily
        res = run_one(path, shapes)
        rows.append({"model": name, "opset": opset, **res})
        if not res.get("fixed"):
            mark = "not nnie"
        elif not res.get("converted"):
            mark = "CONVERT"
        else:
            mark = "ok" if res.get("matched") else "MISMATCH"
            mark += "+host" if res.get("split") else ""
        err = res.get("max_abs_err")
        rel = res.get("rel_err")
        print(
            f"{name:<28}{opset:>4}  {mark:<12}{res.get('layers', ''):>7}"
            f"{'' if err is None else f'{err:.2e}':>13}{'' if rel is None else f'{rel:.2e}':>13}"
            f"{res.get('convert_seconds', 0):>11.2f}{res.get('compare_seconds', 0):>11.2f}",
            flush=True,
        )
    fixed = [r for r in rows if r.get("fixed")]
    good = [r for r in fixed if r.get("matched")]
    print(f"\nnnie-deployable after fix: {len(fixed)}/{len(rows)}; converted to Caffe: "
          f"{sum(1 for r in fixed if r.get('converted'))}/{len(fixed)}; match on OpenCV: "
          f"{len(good)}/{len(fixed)}")  # fmt: skip
    for r in rows:
        if r.get("fixed") and not r.get("matched"):
            print(f"  {r['model']} op{r['opset']}: {r.get('error', 'outputs differ')}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0 if len(good) == len(fixed) else 1


if __name__ == "__main__":
    sys.exit(main())
