"""Deployable rate of `nnport fix` per target over the model zoo (benchmarks/zoo.py).

    python benchmarks/fix_zoo.py                       # ascend310, nnie, ncnn (if profiled), opset 17
    python benchmarks/fix_zoo.py --targets ascend310 --opsets 13,17 --light --names resnet18

For every exported model and target: check, fix (verified pass by pass), and count it as
deployable only when the fixed model passes check AND its outputs match the original within
tolerance. When fix cuts NMS-like post-processing off to the host (split-postprocess, on by
default), and input pre-processing the target lacks (normalize/resize/pad before the first
Conv) to a host model in front, the model counts only if the device part passes check AND the
parts in a row reproduce the original's outputs; such rows read "ok+host" and the rate is
printed with and without them, with the host's share of nodes and of Conv/MatMul/Gemm MACs.
--no-split runs fix with the split turned off. Prints one row per model and a rate per target;
--json writes all results.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from zoo import DEFAULT_CACHE, iter_zoo

from nnport.errors import NnportError
from nnport.model.io import load
from nnport.passes import FixOptions, fix
from nnport.targets import list_targets


def _target_names() -> list[str]:
    known = set()
    for info in list_targets():
        known.add(getattr(info, "name", str(info)))
    return [t for t in ("ascend310", "nnie", "ncnn") if t in known]


def run_one(
    path: Path, target: str, shapes: dict[str, tuple[int, ...]], split: bool = True
) -> dict[str, object]:
    start = time.perf_counter()
    try:
        options = FixOptions(split_postprocess=split)
        result = fix(load(path), target, input_shapes=shapes, options=options)
    except (NnportError, Exception) as exc:  # a crash is a failure of fix, counted as such
        return {"ok": False, "error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}",
                "seconds": time.perf_counter() - start}  # fmt: skip
    remaining = sorted({f"{r.op or 'model'}:{r.rule}" for r in result.remaining})
    return {
        "ok": bool(result.deployable and result.verified),
        "deployable": result.deployable,
        "verified": result.verified,
        "before": result.violations_before,
        "after": result.violations_after,
        "max_error": result.max_error,
        "passes": [p.fix for p in result.passes if p.kept],
        "remaining": remaining[:6],
        "seconds": time.perf_counter() - start,
        "split": None
        if result.split is None
        else {
            "host_nodes": result.split.host_nodes,
            "device_nodes": result.split.device_nodes,
            "host_node_share": result.split.host_node_share,
            "host_mac_share": result.split.host_mac_share,
            "pipeline_verified": result.split.verified,
            "reason": result.split.reason,
            "pre_nodes": result.split.pre_nodes,
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default=",".join(_target_names()))
    parser.add_argument("--opsets", default="17")
    parser.add_argument("--names", default="")
    parser.add_argument("--light", action="store_true", help="skip heavy models")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--json", type=Path, default=None, help="write every result here")
    parser.add_argument("--no-split", action="store_true", help="fix without split-postprocess")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    warnings.simplefilter("ignore")
    targets = [t for t in args.targets.split(",") if t]
    opsets = [int(o) for o in args.opsets.split(",")]
    names = [n for n in args.names.split(",") if n] or None
    rows: list[dict[str, object]] = []
    print(f"{'model':<40}{'op':>4}  " + "".join(f"{t:<12}" for t in targets))
    for entry in iter_zoo(args.cache, opsets, names, light=args.light):
        cells = []
        for target in targets:
            res = run_one(entry.path, target, entry.input_shapes, split=not args.no_split)
            rows.append({"model": entry.name, "family": entry.family, "opset": entry.opset,
                         "target": target, **res})  # fmt: skip
            mark = "ok" if res["ok"] else ("ERR" if "error" in res else f"{res['after']} left")
            if res["ok"] and res.get("split"):
                mark = "ok+host"
            cells.append(f"{mark:<12}")
        print(f"{entry.name:<40}{entry.opset:>4}  " + "".join(cells), flush=True)
    print()
    print(f"{'target':<12}{'deployable+verified':>22}{'rate':>8}{'whole model on device':>24}")
    for target in targets:
        mine = [r for r in rows if r["target"] == target]
        good = sum(1 for r in mine if r["ok"])
        whole = sum(1 for r in mine if r["ok"] and not r.get("split"))
        rate = 100.0 * good / len(mine) if mine else 0.0
        whole_rate = 100.0 * whole / len(mine) if mine else 0.0
        print(
            f"{target:<12}{f'{good}/{len(mine)}':>22}{rate:>7.1f}%"
            f"{f'{whole}/{len(mine)}':>17}{whole_rate:>6.1f}%"
        )
    splits = [r for r in rows if r.get("split")]
    if splits:
        print("\npre-/post-processing split off to the host (ok+host; device part checked, the")
        print("parts in a row verified against the original):")
        for r in splits:
            info: dict[str, object] = r["split"]  # type: ignore[assignment]
            mac = float(info["host_mac_share"])  # type: ignore[arg-type]
            print(
                f"  {r['model']} op{r['opset']} {r['target']}: {'ok' if r['ok'] else 'NOT ok'}, "
                f"host {info['host_nodes']} nodes ({100 * float(info['host_node_share']):.0f}% "  # type: ignore[arg-type]
                f"of nodes, {'?' if mac < 0 else f'{100 * mac:.0f}%'} of MACs), device "
                f"{info['device_nodes']} nodes"
                + (f", host pre-processing {info['pre_nodes']} nodes" if info["pre_nodes"] else "")
            )
    for target in targets:
        failures = [r for r in rows if r["target"] == target and not r["ok"]]
        if failures:
            print(f"\n{target}: not deployable")
            for r in failures:
                why = r.get("error") or ", ".join(r.get("remaining", []))  # type: ignore[arg-type]
                print(f"  {r['model']} op{r['opset']}: {why}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
