"""Cost of deep subgraph nesting: check, fix and port time against the depth of nested Ifs.

Usage: python benchmarks/nested_if.py [--depths 6,7,8,9,10,11] [--target openvino]
                                      [--verbs check,fix,port] [--profile DEPTH]

The model at depth D is a full binary tree of Ifs D levels deep (both branches of an If hold an
If of the next level), every branch reading the graph input ``x`` from the outer scope and the
condition ``c`` (a rank-0 bool input); depth 11 has 4,095 Ifs. (ONNX's protobuf decoder limits
nesting to about 25 levels, so deep models are wide too.) Issue 21 measured ``port -t openvino``
on such a 4,095-If model at over 5 minutes; the cost must grow linearly with the node count:
the printed milliseconds per node should stay flat as the node count doubles. ``--profile D``
prints cProfile's top functions for ``port`` at depth D instead.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def nested_if_model(depth: int) -> Any:
    """An onnx ModelProto: a full binary tree of Ifs ``depth`` levels deep (2**depth - 1 Ifs),
    each branch an If of the next level followed by a Relu, the leaves an Add of ``x``."""
    import onnx
    from onnx import TensorProto, helper

    count = [0]

    def branch(level: int) -> onnx.GraphProto:
        count[0] += 1
        tag = count[0]
        out = f"y{tag}"
        if level == depth:
            nodes = [helper.make_node("Add", ["x", "x"], [out], name=f"add{tag}")]
        else:
            nodes = [
                helper.make_node(
                    "If", ["c"], [f"i{tag}"], name=f"if{tag}",
                    then_branch=branch(level + 1), else_branch=branch(level + 1),
                ),
                helper.make_node("Relu", [f"i{tag}"], [out], name=f"relu{tag}"),
            ]  # fmt: skip
        return helper.make_graph(
            nodes, f"g{tag}", [], [helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, 4])]
        )

    top = helper.make_node(
        "If", ["c"], ["y"], name="if0", then_branch=branch(1), else_branch=branch(1)
    )
    graph = helper.make_graph(
        [top],
        "nested_if",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4]),
            helper.make_tensor_value_info("c", TensorProto.BOOL, []),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def count_nodes(model: Any) -> int:
    """Nodes in the graph and every subgraph."""
    import onnx_ir as ir

    return sum(1 for _ in ir.traversal.RecursiveGraphIterator(model.graph))


def run_verb(verb: str, path: Path, target: str, out: Path) -> float:
    """Seconds for one verb on the model at ``path``, as the Python API runs it."""
    import nnport
    from nnport.check import check
    from nnport.passes import fix
    from nnport.pipeline import PortOptions, port
    from nnport.targets import load_target

    model = nnport.load(path)
    profile = load_target(target)
    start = time.perf_counter()
    if verb == "check":
        check(model, profile)
    elif verb == "fix":
        fix(model, profile)
    elif verb == "port":
        port(model, target, out, PortOptions(bench_iterations=0))
    else:
        raise SystemExit(f"unknown verb {verb!r}")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", default="6,7,8,9,10,11")
    parser.add_argument("--target", default="openvino")
    parser.add_argument("--verbs", default="check,fix,port")
    parser.add_argument("--profile", type=int, default=0)
    args = parser.parse_args(argv)

    import onnx

    import nnport

    with tempfile.TemporaryDirectory(prefix="nnport-nested-if-") as tmp:
        work = Path(tmp)
        if args.profile:
            path = work / f"nested{args.profile}.onnx"
            onnx.save(nested_if_model(args.profile), path)
            profiler = cProfile.Profile()
            profiler.enable()
            run_verb("port", path, args.target, work / "out")
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
            return 0
        verbs = args.verbs.split(",")
        print(f"target {args.target}; seconds (and milliseconds per node)")
        print(f"{'depth':>6s} {'nodes':>6s} " + " ".join(f"{v:>18s}" for v in verbs))
        for depth in (int(d) for d in args.depths.split(",")):
            path = work / f"nested{depth}.onnx"
            onnx.save(nested_if_model(depth), path)
            nodes = count_nodes(nnport.load(path))
            cells = []
            for verb in verbs:
                seconds = run_verb(verb, path, args.target, work / f"out{depth}{verb}")
                cells.append(f"{seconds:8.2f} ({1000 * seconds / nodes:6.2f} ms)")
            print(f"{depth:6d} {nodes:6d} " + " ".join(f"{c:>18s}" for c in cells), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
