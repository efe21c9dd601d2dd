"""Measured defects of a target's runtime, each with a detector, a rule and a minimal repro.

A profile lists the defects its runtime has (``[graph] defects``, names from ``DEFECTS``); each
name has a detector here and a minimal model (``repro``) that shows it, so
``benchmarks/probe_profiles.py`` records a defect only when it still reproduces on the
installed runtime, and a test fails when a runtime upgrade fixes it. Two kinds:

- wrong results with no error (rule ``runtime-defect``). ``if-empty-constant``: OpenVINO's CPU
  plugin returns a one-element tensor (uninitialized memory) from an If whose taken branch
  outputs a zero-size constant. torchvision's detectors guard NMS with ``if boxes.numel() ==
  0: return empty``, so an image with no detection comes back with one garbage box. The
  ``materialize-empty-branch`` pass computes the empty tensor at run time instead, which
  OpenVINO gets right.
- refusals no op rule can say (their own rule). ``dynamic-rank``: OpenVINO's CPU plugin refuses
  a node whose output rank is known only at run time (``nnport.targets.dynamic_rank``).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import onnx_ir as ir

from nnport.model.graphs import constant_tensor
from nnport.targets import dynamic_rank
from nnport.targets.batch_axis import node_label, node_violation
from nnport.targets.dynamic_rank import unknown_rank

if TYPE_CHECKING:
    from pathlib import Path

    import onnx

    from nnport.targets.checker import Context
    from nnport.targets.profile import TargetProfile
    from nnport.targets.violations import Violation

MATERIALIZE_EMPTY_BRANCH = "materialize-empty-branch"


@dataclasses.dataclass(frozen=True)
class Defect:
    """One measured defect: the rule that reports it, what it does, and whether the runtime
    refuses the repro (else it runs it and returns a wrong result)."""

    rule: str
    description: str
    refusal: bool = False


DEFECTS: dict[str, Defect] = {
    "if-empty-constant": Defect(
        "runtime-defect",
        "an If whose branch outputs a zero-size constant returns one element (garbage) "
        "instead of none",
    ),
    "dynamic-rank": Defect(
        "dynamic-rank",
        "refuses a node whose output rank is known only at run time (a reduction with "
        "keepdims=0, a Squeeze or an Unsqueeze, given its axes at run time)",
        refusal=True,
    ),
}


def empty_branch_outputs(node: ir.Node) -> list[tuple[str, int, ir.TensorProtocol]]:
    """(branch attribute, output position, the constant) of each If branch output that is a
    zero-size constant (an initializer or Constant node of the branch, possibly through Identity)."""
    if node.op_type != "If" or node.domain not in ("", "ai.onnx"):
        return []
    found = []
    for attr_name in ("then_branch", "else_branch"):
        attr = node.attributes.get(attr_name)
        if attr is None or attr.type != ir.AttributeType.GRAPH:
            continue
        for position, value in enumerate(attr.as_graph().outputs):
            source: ir.Value | None = value
            while source is not None and _is_identity(source.producer()):
                source = source.producer().inputs[0]  # type: ignore[union-attr]
            tensor = constant_tensor(source)
            if tensor is not None and 0 in tuple(tensor.shape):
                found.append((attr_name, position, tensor))
    return found


def _is_identity(node: ir.Node | None) -> bool:
    return node is not None and node.op_type == "Identity" and node.domain in ("", "ai.onnx")


def defect_violations(ctx: Context, node: ir.Node, graph_name: str, index: int) -> list[Violation]:
    """One violation per defect of the profile that ``node`` hits."""
    found = []
    defects = ctx.profile.graph.defects
    if "if-empty-constant" in defects and (hits := empty_branch_outputs(node)):
        where = ", ".join(f"{branch} output {pos}" for branch, pos, _ in hits)
        message = (
            f"If '{node_label(ctx, node, index)}' returns a zero-size constant ({where}); "
            f"{ctx.profile.name}'s If returns one element of garbage instead (a detector with no "
            f"detection reports a box), with no error"
        )
        found.append(node_violation(ctx, node, index, "runtime-defect", message,
                                    fix=MATERIALIZE_EMPTY_BRANCH, graph=graph_name))  # fmt: skip
    if "dynamic-rank" in defects and (why := unknown_rank(ctx, node)):
        message = (
            f"{node.op_type} '{node_label(ctx, node, index)}' {why}, so its output rank is known "
            f"only at run time; {ctx.profile.name} refuses operations of dynamic rank"
        )
        found.append(node_violation(ctx, node, index, "dynamic-rank", message, graph=graph_name))
    return found


def repro(name: str) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """A minimal model and feeds on which a runtime with defect ``name`` differs from ONNX
    (returns other values, or refuses it)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if name == "dynamic-rank":
        model, feeds, _ = dynamic_rank.repro()
        return model, feeds
    if name != "if-empty-constant":
        raise KeyError(name)
    empty = numpy_helper.from_array(np.zeros(0, np.int64))
    then = helper.make_graph(
        [helper.make_node("Constant", [], ["e"], value=empty)],
        "then",
        [],
        [helper.make_tensor_value_info("e", TensorProto.INT64, [0])],
    )
    other = helper.make_graph(
        [helper.make_node("ArgMax", ["x"], ["a"], axis=1, keepdims=0)],
        "else",
        [],
        [helper.make_tensor_value_info("a", TensorProto.INT64, [3])],
    )
    graph = helper.make_graph(
        [helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)],
        "if_empty_constant",
        [
            helper.make_tensor_value_info("c", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.INT64, ["n"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    feeds = {"c": np.array(True), "x": np.arange(12, dtype=np.float32).reshape(3, 4)}
    return model, feeds


def add_defects(profile: TargetProfile, backend: str) -> TargetProfile:
    """``profile`` with ``[graph] defects`` set to the known defects ``backend`` reproduces now."""
    found = tuple(name for name in DEFECTS if reproduces(name, backend))
    return dataclasses.replace(profile, graph=dataclasses.replace(profile.graph, defects=found))


def reproduces(name: str, backend: str) -> bool:
    """True when ``backend`` gets the repro model of defect ``name`` wrong (ONNX Runtime is the
    reference): returns other values, or, for a refusal, refuses it and runs its control. A
    backend that fails on a wrong-result repro does not have that defect, it has another."""
    import tempfile
    from pathlib import Path

    import onnx

    from nnport.backends import make_runner

    model, feeds = repro(name)
    with tempfile.TemporaryDirectory(prefix="nnport-defect-") as tmp:
        path = Path(tmp) / f"{name}.onnx"
        onnx.save(model, path)
        with make_runner("onnxruntime", path) as ref:
            expected = ref.infer(feeds)
        try:
            with make_runner(backend, path) as runner:
                got = runner.infer(feeds)
        except Exception:
            return DEFECTS[name].refusal and _runs_control(name, backend, Path(tmp))
    if DEFECTS[name].refusal:
        return False
    return any(
        got[k].shape != v.shape or not np.array_equal(got[k], v) for k, v in expected.items()
    )


def _runs_control(name: str, backend: str, tmp: Path) -> bool:
    """``backend`` runs the control of refusal ``name`` (so the repro's one difference is what
    it refuses)."""
    import onnx

    from nnport.backends import make_runner

    _, feeds, control = dynamic_rank.repro()
    path = tmp / f"{name}-control.onnx"
    onnx.save(control, path)
    try:
        with make_runner(backend, path) as runner:
            runner.infer(feeds)
    except Exception:
        return False
    return True
