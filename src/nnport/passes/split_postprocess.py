"""Split at the data-dependent-shape region: device model up to the tensors feeding NMS/NonZero/TopK(computed K), host model for the rest."""

from __future__ import annotations

import collections
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import onnx_ir as ir
from onnx_ir.passes.common import RemoveUnusedNodesPass

from nnport.model.graphs import infer_shapes, node_subgraphs
from nnport.passes.base import Decline, const_array
from nnport.passes.verify import run_model

# Ops whose output shape depends on input values: no static-shape target can take them.
DATA_DEPENDENT_OPS = frozenset({"NonZero", "NonMaxSuppression", "Unique", "Compress"})
# Ops that carry the network's arithmetic: they stay on the device even when only the host
# region reads them; everything lighter that only the host reads moves to the host with it.
HEAVY_OPS = frozenset(
    {"Conv", "ConvTranspose", "MatMul", "Gemm", "ConvInteger", "MatMulInteger", "QLinearConv",
     "QLinearMatMul", "LSTM", "GRU", "RNN", "Einsum", "Attention"}
)  # fmt: skip
HOST_SUFFIX = ".post.onnx"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SplitReport:
    """How ``fix`` cut a model into a device part and host post-processing, and the proof."""

    reason: str
    seeds: tuple[str, ...]
    cut: tuple[str, ...]
    host_inputs: tuple[str, ...]
    device_nodes: int
    host_nodes: int
    host_node_share: float
    host_mac_share: float
    host_ops: tuple[str, ...]
    verified: bool = False
    max_error: float = 0.0
    verification: str = ""
    host_output: str = ""
    # Input pre-processing split off too (split_preprocess): its node count, the tensors it
    # hands the device part, where it was written. Empty when the model was not cut there.
    pre_nodes: int = 0
    pre_cut: tuple[str, ...] = ()
    pre_output: str = ""


@dataclass
class Split:
    """The two models of a split and what joins them (``cut``: device outputs = host inputs)."""

    device: ir.Model
    host: ir.Model
    cut: list[str]
    report: SplitReport


def _is_seed(node: ir.Node) -> bool:
    if node.domain in ("", "ai.onnx"):
        if node.op_type in DATA_DEPENDENT_OPS:
            return True
        if node.op_type == "TopK" and len(node.inputs) > 1 and const_array(node.inputs[1]) is None:
            return True
    return any(_is_seed(sub) for sub in _sub_nodes(node))


def _sub_nodes(node: ir.Node) -> list[ir.Node]:
    """Every node inside ``node``'s subgraphs (If/Loop/Scan bodies), recursively."""
    found: list[ir.Node] = []
    for graph in node_subgraphs(node):
        found.extend(ir.traversal.RecursiveGraphIterator(graph))
    return found


def _owners(graph: ir.Graph) -> dict[ir.Node, ir.Node]:
    """Each node (subgraph nodes included) -> the main-graph node that holds it."""
    owner: dict[ir.Node, ir.Node] = {}
    for top in graph:
        owner[top] = top
        for sub in _sub_nodes(top):
            owner[sub] = top
    return owner


def _readers(value: ir.Value, owner: Mapping[ir.Node, ir.Node]) -> set[ir.Node]:
    return {owner[use.node] for use in value.uses() if use.node in owner}


def host_region(model: ir.Model) -> tuple[list[ir.Node], set[ir.Node]]:
    """(seed nodes, every main-graph node that belongs on the host): the seeds, all nodes
    downstream of them, and light nodes whose results only the host reads."""
    graph = model.graph
    seeds = [node for node in graph if _is_seed(node)]
    if not seeds:
        return [], set()
    owner = _owners(graph)
    region: set[ir.Node] = set(seeds)
    stack = list(seeds)
    while stack:
        node = stack.pop()
        for out in node.outputs:
            for reader in _readers(out, owner):
                if reader not in region:
                    region.add(reader)
                    stack.append(reader)
    changed = True
    while changed:  # hoist light producers that only feed the host (box decoding, Softmax, ...)
        changed = False
        for node in reversed(list(graph)):
            if node in region or node.op_type in HEAVY_OPS or _sub_nodes(node):
                continue
            readers = set().union(*(_readers(out, owner) for out in node.outputs))
            if readers and readers <= region:
                region.add(node)
                changed = True
    return seeds, region


def _values_by_name(graph: ir.Graph) -> dict[str, ir.Value]:
    values: dict[str, ir.Value] = {v.name or "": v for v in graph.inputs}
    values.update(graph.initializers)
    for node in graph:
        for out in node.outputs:
            values[out.name or ""] = out
    return values


def _drop_unused_inputs(graph: ir.Graph) -> None:
    keep = [v for v in graph.inputs if v.uses() or v.is_graph_output()]
    graph.inputs.clear()
    graph.inputs.extend(keep)


def _end_at(part: ir.Model, values: Mapping[str, ir.Value], cut: list[str]) -> None:
    """Make the ``cut`` tensors ``part``'s outputs and drop what no longer feeds them."""
    part.graph.outputs.clear()
    part.graph.outputs.extend(values[name] for name in cut)
    RemoveUnusedNodesPass()(part)
    _drop_unused_inputs(part.graph)


def _start_at(part: ir.Model, source: Mapping[str, ir.Value], cut: list[str], tag: str) -> None:
    """Make the ``cut`` tensors ``part``'s first inputs (typed and shaped as in ``source``, the
    other part's values) and drop the nodes that computed them; their old values get ``tag``."""
    values = _values_by_name(part.graph)
    fresh_inputs: list[ir.Value] = []
    for name in cut:
        old, shape = values[name], source[name].shape
        fresh = ir.Value(type=source[name].type, shape=ir.Shape(list(shape)) if shape else None)
        old.replace_all_uses_with(fresh, replace_graph_outputs=True)
        old.name = f"{name}__{tag}"
        fresh.name = name
        fresh_inputs.append(fresh)
    kept = list(part.graph.inputs)
    part.graph.inputs.clear()
    part.graph.inputs.extend([*fresh_inputs, *kept])
    RemoveUnusedNodesPass()(part)  # the other part's nodes: nothing here reads them now
    _drop_unused_inputs(part.graph)


def _detach_subgraphs(graph: ir.Graph, indices: set[int]) -> None:
    """Drop the outer-value reads of subgraphs of the nodes at ``indices`` (they are about to
    go), so dead-code removal sees the values they captured as unused (hand-rolled: onnx-ir's
    RemoveUnusedNodesPass keeps values a removed If's branches still read)."""
    for i, node in enumerate(list(graph)):
        if i in indices:
            for sub in _sub_nodes(node):
                for k in range(len(sub.inputs)):
                    sub.replace_input_with(k, None)


def split_model(model: ir.Model, seeds: Sequence[ir.Node], region: set[ir.Node]) -> Split:
    """Cut ``model`` (not modified) into a device model whose outputs are the tensors the host
    region reads, and a host model taking those tensors (plus any graph input it reads)."""
    graph = model.graph
    order = list(graph)
    owner = _owners(graph)
    cut: list[str] = []
    for node in order:
        if node in region:
            continue
        for out in node.outputs:
            if (_readers(out, owner) & region or out.is_graph_output()) and out.name:
                cut.append(out.name)
    if not cut or len(region) == len(order):
        raise Decline("the device part would compute nothing (the region starts at the inputs)")
    # onnx-ir gives dead-code removal; choosing outputs and re-wiring the cut is hand-rolled.
    device = model.clone()
    infer_shapes(device)  # the cut tensors become graph outputs and inputs: they need types
    _detach_subgraphs(device.graph, {i for i, node in enumerate(order) if node in region})
    dvalues = _values_by_name(device.graph)
    untyped = [name for name in cut if dvalues[name].dtype is None]
    if untyped:
        raise Decline(f"shape inference cannot type the tensor(s) at the cut: {untyped[:3]}")
    _end_at(device, dvalues, cut)

    host = model.clone()
    _detach_subgraphs(host.graph, {i for i, node in enumerate(order) if node not in region})
    _start_at(host, dvalues, cut, "device")

    total = len(order)
    n_host = sum(1 for _ in host.graph)
    ops = collections.Counter(n.op_type for n in host.graph)
    shown = ", ".join(f"{n.op_type} '{n.name}'" for n in seeds[:2])
    more = f" and {len(seeds) - 2} more" if len(seeds) > 2 else ""
    report = SplitReport(
        reason=f"{shown}{more} make{'' if len(seeds) > 1 else 's'} output shapes depend on "
        "input values (no static-shape target runs them)",
        seeds=tuple(n.name or n.op_type for n in seeds[:20]),
        cut=tuple(cut),
        host_inputs=tuple(v.name or "" for v in host.graph.inputs),
        device_nodes=sum(1 for _ in device.graph),
        host_nodes=n_host,
        host_node_share=n_host / total if total else 0.0,
        host_mac_share=-1.0,
        host_ops=tuple(f"{op} x{count}" for op, count in ops.most_common(8)),
    )
    return Split(device, host, cut, report)


def _node_macs(node: ir.Node, shape_of: Mapping[str, tuple[int, ...]]) -> int:
    """Multiply-accumulates of one heavy node from the shapes seen at run time (0 if unknown)."""

    def shape(value: ir.Value | None) -> tuple[int, ...] | None:
        if value is None:
            return None
        if value.const_value is not None:
            return tuple(int(d) for d in value.const_value.shape.numpy())
        return shape_of.get(value.name or "")

    out = shape(node.outputs[0]) if node.outputs else None
    a = shape(node.inputs[0]) if node.inputs else None
    w = shape(node.inputs[1]) if len(node.inputs) > 1 else None
    if out is None or a is None:
        return 0
    if node.op_type in ("Conv", "ConvInteger", "QLinearConv") and w is not None:
        return int(np.prod(out)) * int(np.prod(w[1:]))
    if node.op_type == "ConvTranspose" and w is not None:
        return int(np.prod(a)) * int(np.prod(w[1:]))
    if node.op_type in ("MatMul", "MatMulInteger", "QLinearMatMul") and a:
        return int(np.prod(out)) * int(a[-1])
    if node.op_type == "Gemm" and len(a) == 2:
        trans = node.attributes.get("transA")
        k = a[0] if trans is not None and trans.as_int() else a[1]
        return int(np.prod(out)) * int(k)
    return 0


def host_mac_share(model: ir.Model, region: set[ir.Node], feed: Mapping[str, np.ndarray]) -> float:
    """The share of Conv/MatMul/Gemm multiply-accumulates in ``region`` on ``feed`` (shapes
    after NMS depend on the data, so they are read from a run), or -1 when it cannot run."""
    heavy = [(i, n) for i, n in enumerate(model.graph) if n.op_type in HEAVY_OPS]
    if not heavy:
        return 0.0
    probe = model.clone()
    values = _values_by_name(probe.graph)
    wanted: list[str] = []
    for _, node in heavy:
        for value in (*node.inputs[:1], *node.outputs[:1]):
            if value is not None and value.const_value is None and value.name:
                wanted.append(value.name)
    present = {v.name for v in probe.graph.outputs}
    for name in dict.fromkeys(wanted):
        value = values.get(name)
        if value is not None and name not in present and value not in probe.graph.inputs:
            probe.graph.outputs.append(value)
    try:
        _, outs = run_model(probe, [feed])
    except Exception:  # the share is information only; a run failure leaves it unknown
        return -1.0
    shape_of = {name: tuple(np.asarray(a).shape) for name, a in outs[0].items()}
    shape_of.update({k: tuple(np.asarray(a).shape) for k, a in feed.items()})
    host = device = 0
    for _, node in heavy:
        macs = _node_macs(node, shape_of)
        if node in region:
            host += macs
        else:
            device += macs
    return host / (host + device) if host + device else 0.0


def adapt_host_inputs(host: ir.Model, device: ir.Model) -> None:
    """Where fixing the device part changed a cut tensor's dtype (int64 -> int32, a boundary
    Cast), the host input takes the device's dtype and casts back (hand-rolled: one Cast)."""
    produced = {v.name: v for v in device.graph.outputs}
    for index, value in enumerate(list(host.graph.inputs)):
        dev = produced.get(value.name)
        if dev is None or dev.dtype is None or value.dtype is None or dev.dtype == value.dtype:
            continue
        if value.is_graph_output():  # a pass-through output keeps its name; the runner casts
            continue
        name = value.name or ""
        fresh = ir.Value(name=name, type=ir.TensorType(dev.dtype), shape=value.shape)
        value.name = f"{name}__host"
        cast = ir.Node(
            "", "Cast", [fresh], attributes=[ir.AttrInt64("to", value.dtype.value)],
            name=f"{name}/to_host",
        )  # fmt: skip
        out = cast.outputs[0]
        out.name, out.type, out.shape = f"{name}/to_host", value.type, value.shape
        value.replace_all_uses_with(out)
        nodes = list(host.graph)
        if nodes:
            host.graph.insert_before(nodes[0], cast)
        else:
            host.graph.append(cast)
        host.graph.inputs[index] = fresh
