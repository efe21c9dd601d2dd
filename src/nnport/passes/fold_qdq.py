"""Q(x) → DQ → y  ⇒  x, and DQ(constant) ⇒ its float value: a QDQ model folded back to float.

Not an automatic fix: folding changes the numbers (the activations are no longer rounded to
the int8 grid), so ``fix --fold-qdq`` asks for it, measures the difference to the quantized
model, and keeps the scales for the converter's own calibration (``scales_json``,
``ncnn_table``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx_ir as ir

from nnport.passes.base import FixPass, const_array

logger = logging.getLogger(__name__)

_QDQ = ("QuantizeLinear", "DequantizeLinear")


@dataclass(frozen=True)
class QdqScale:
    """One quantized tensor: an activation (per-tensor) or a weight (per channel on ``axis``),
    with the consumers of its dequantized value; ``low``/``high`` is its float range."""

    tensor: str
    kind: str  # "activation" or "weight"
    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    dtype: str
    axis: int
    consumers: tuple[str, ...]
    low: float
    high: float


@dataclass(frozen=True)
class FoldReport:
    """What folding did and what it changed, measured against the quantized model."""

    pairs: int
    weights: int
    left: int
    max_abs: float
    relative: float
    cosine: float
    feeds: int
    scales: tuple[QdqScale, ...] = ()
    scales_file: str = ""
    table_file: str = ""
    note: str = ""


def _dtype_range(array: np.ndarray) -> tuple[int, int]:
    info = np.iinfo(array.dtype) if np.issubdtype(array.dtype, np.integer) else np.iinfo(np.int8)
    return int(info.min), int(info.max)


def source_is_input(quant: ir.Node) -> bool:
    """Q reads a graph input that a DQ hands straight to a graph output (no node between)."""
    source = quant.inputs[0]
    return (
        source is not None
        and source.is_graph_input()
        and any(user.outputs[0].is_graph_output() for user, _ in quant.outputs[0].uses())
    )


class FoldQdqPass(FixPass):
    """Remove QuantizeLinear → DequantizeLinear pairs and fold DequantizeLinear of constants."""

    fix_id = "fold-qdq"
    resolves = ("quantized-model",)

    def __init__(self) -> None:
        super().__init__()
        self.scales: list[QdqScale] = []
        self.pairs = 0
        self.weights = 0

    def _consumers(self, value: ir.Value) -> tuple[str, ...]:
        return tuple(user.name or user.op_type for user, _ in value.uses())

    def _fold_constant(self, graph: ir.Graph, node: ir.Node) -> bool:
        """DQ(int constant, scale, zero point) → the float constant it computes."""
        data = const_array(node.inputs[0])
        scale = const_array(node.inputs[1]) if len(node.inputs) > 1 else None
        if data is None or scale is None or node.outputs[0].is_graph_output():
            return False
        zp = const_array(node.inputs[2]) if len(node.inputs) > 2 else None
        zero = np.zeros_like(scale, dtype=np.int64) if zp is None else zp.astype(np.int64)
        axis = node.attributes.get_int("axis", 1) if scale.size > 1 else 0
        shape = [1] * data.ndim
        if scale.size > 1:
            axis %= data.ndim
            shape[axis] = scale.size
        value = (data.astype(np.float64) - zero.reshape(shape or ())) * scale.reshape(shape or ())
        out = node.outputs[0]
        name = out.name or f"{node.name}_folded"
        source = node.inputs[0]
        self.scales.append(QdqScale(
            source.name or "" if source is not None else "", "weight", tuple(float(s) for s in scale.ravel()),
            tuple(int(z) for z in zero.ravel()), str(data.dtype), axis, self._consumers(out),
            float(np.min(value)) if value.size else 0.0, float(np.max(value)) if value.size else 0.0,
        ))  # fmt: skip
        tensor = ir.tensor(value.astype(scale.dtype), name=name)
        folded = ir.Value(name=name, type=ir.TensorType(ir.DataType.FLOAT), shape=ir.Shape(value.shape),
                          const_value=tensor)  # fmt: skip
        ir.convenience.replace_all_uses_with(out, folded)
        out.name = f"{name}__dq"
        graph.remove(node, safe=True)
        graph.register_initializer(folded)
        self.weights += 1
        return True

    def _fold_pair(self, graph: ir.Graph, quant: ir.Node) -> bool:
        """Q(x) → DQ(s) → y: every y reads x, or Relu(x) when the quantized range starts at 0
        (a quantizer drops a Relu whose output range the zero point already clips)."""
        q = quant.outputs[0]
        users = [user for user, _ in q.uses()]
        if not users or q.is_graph_output():
            return False
        if any(u.op_type != "DequantizeLinear" for u in users) or source_is_input(quant):
            return False
        source = quant.inputs[0]
        scale = const_array(quant.inputs[1]) if len(quant.inputs) > 1 else None
        if source is None or scale is None or scale.size != 1:
            return False
        zp = const_array(quant.inputs[2]) if len(quant.inputs) > 2 else None
        zero = 0 if zp is None else int(zp.ravel()[0])
        qmin, qmax = _dtype_range(zp) if zp is not None else (0, 255)
        s = float(scale.ravel()[0])
        consumers = tuple(c for dq in users for c in self._consumers(dq.outputs[0]))
        self.scales.append(QdqScale(
            source.name or "", "activation", (s,), (zero,),
            str(zp.dtype) if zp is not None else "uint8", 0, consumers,
            (qmin - zero) * s, (qmax - zero) * s,
        ))  # fmt: skip
        if (qmin - zero) * s == 0.0:  # the clip at zero is the dropped Relu
            relu = ir.node("Relu", [source], name=f"{quant.name or 'q'}_relu")
            relu.outputs[0].name = f"{source.name}_relu"
            if source.type is not None:  # a shape without a type is not valid ONNX
                relu.outputs[0].type = source.type
                relu.outputs[0].shape = source.shape
            graph.insert_before(quant, relu)
            source = relu.outputs[0]
        for dq in users:
            out = dq.outputs[0]
            is_output = out.is_graph_output()
            ir.convenience.replace_all_uses_with(out, source, replace_graph_outputs=True)
            if is_output:  # the graph output keeps its name and type
                name, out.name = out.name, f"{out.name}__dq"
                source.name = name
                source.type = source.type or out.type
                source.shape = source.shape or out.shape
            graph.remove(dq, safe=True)
        graph.remove(quant, safe=True)
        self.pairs += 1
        return True

    def call(self, model: ir.Model) -> ir.passes.PassResult:
        graph = model.graph
        for node in list(graph):
            if node.graph is None or node.domain not in ("", "ai.onnx"):
                continue
            if node.op_type == "QuantizeLinear" and not self._fold_pair(graph, node):
                self.declined.append(
                    f"{node.name or node.op_type}: not a Q -> DQ pair nnport folds"
                )
        for node in list(graph):
            dq = node.op_type == "DequantizeLinear" and node.domain in ("", "ai.onnx")
            if dq and not self._fold_constant(graph, node):
                self.declined.append(f"{node.name}: dequantizes a computed tensor")
        modified = bool(self.pairs or self.weights)
        if modified:
            from onnx_ir.passes.common import RemoveUnusedNodesPass

            RemoveUnusedNodesPass()(model)
        self.rewritten = self.pairs + self.weights
        return ir.passes.PassResult(model, modified)


def _measure(
    quantized: Sequence[Mapping[str, np.ndarray]], folded: Sequence[Mapping[str, np.ndarray]]
) -> tuple[float, float, float]:
    """(max |folded − quantized|, that relative to max |quantized|, cosine) over float outputs."""
    worst = relative = 0.0
    dots = norm_a = norm_b = 0.0
    for a_feed, b_feed in zip(quantized, folded, strict=True):
        for name, a in a_feed.items():
            a64 = np.asarray(a, dtype=np.float64).ravel()
            b64 = np.asarray(b_feed[name], dtype=np.float64).ravel()
            diff = float(np.max(np.abs(a64 - b64))) if a64.size else 0.0
            worst = max(worst, diff)
            relative = max(relative, diff / max(float(np.max(np.abs(a64))), 1e-12))
            dots += float(a64 @ b64)
            norm_a += float(a64 @ a64)
            norm_b += float(b64 @ b64)
    cosine = dots / np.sqrt(norm_a * norm_b) if norm_a > 0 and norm_b > 0 else 1.0
    return worst, relative, float(cosine)


def fold_qdq(
    model: ir.Model, feeds: Sequence[Mapping[str, np.ndarray]]
) -> tuple[ir.Model, FoldReport]:
    """A float copy of the QDQ ``model`` and the measured difference on ``feeds`` (``model``
    is not modified)."""
    from nnport.passes.verify import run_model

    folded = model.clone()
    fold = FoldQdqPass()
    fold(folded)
    left = sum(1 for n in folded.graph if n.op_type in _QDQ)
    _e, before = run_model(model, feeds)
    _e, after = run_model(folded, feeds)
    floats = [{k: v for k, v in b.items() if np.issubdtype(np.asarray(v).dtype, np.floating)}
              for b in before]  # fmt: skip
    worst, relative, cosine = _measure(floats, after)
    return folded, FoldReport(
        pairs=fold.pairs, weights=fold.weights, left=left, max_abs=worst, relative=relative,
        cosine=cosine, feeds=len(feeds), scales=tuple(fold.scales),
    )  # fmt: skip


def scales_json(report: FoldReport, target: str) -> str:
    """Every folded tensor's scale, zero point and float range, for the converter's calibration."""
    data = {
        "format": "nnport qdq scales 1",
        "target": target,
        "note": "float value = (q - zero_point) * scale; activations per tensor, weights per "
        "channel on axis; consumers are the ONNX node names reading the tensor",
        "tensors": [
            {"tensor": s.tensor, "kind": s.kind, "scale": list(s.scale),
             "zero_point": list(s.zero_point), "dtype": s.dtype, "axis": s.axis,
             "consumers": list(s.consumers), "min": s.low, "max": s.high}
            for s in report.scales
        ],
    }  # fmt: skip
    return json.dumps(data, indent=2) + "\n"


def ncnn_table(report: FoldReport) -> str:
    """ncnn2int8's calibration table: ``NODE_param_0 s1 s2 ...`` (weight scales per output
    channel) and ``NODE s`` (the input blob's scale), ncnn's scale being 1 / ONNX's scale
    (ncnn multiplies by it); keyed by the ONNX node names of the Conv/Gemm/MatMul readers."""
    lines: list[str] = []
    for s in report.scales:
        inverse = " ".join(f"{1.0 / v:g}" if v else "0" for v in s.scale)
        for consumer in s.consumers:
            key = f"{consumer}_param_0" if s.kind == "weight" else consumer
            lines.append(f"{key} {inverse}")
    return "".join(f"{line}\n" for line in dict.fromkeys(lines))


SCALES_SUFFIX = ".qdq_scales.json"
NCNN_TABLE_SUFFIX = ".ncnn.table"
# Where each target's converter takes the scales (docs/fix.md, "Quantized models").
SCALES_NOTE = {
    "ncnn": "ncnn2int8 reads the table (rename its ONNX node names to the .param's layer names "
    "pnnx wrote) instead of ncnn2table's calibration",
    "ascend310": "AMCT calibrates from data and takes no scale file: the scales are written "
    "for reference and for checking AMCT's result",
    "nnie": "the NNIE mapper calibrates from its [image_list] and takes no scale file: the "
    "scales are written for reference",
}


def scales_path(output: str | Path) -> Path:
    """Where the folded model's scales go beside it: OUT's stem + ``.qdq_scales.json``."""
    output = Path(output)
    return output.with_name(output.stem + SCALES_SUFFIX)


def write_scales(report: FoldReport, output: str | Path, target: str) -> FoldReport:
    """Write the scales beside ``output`` (JSON; for ncnn also ncnn2int8's table) and return the
    report naming the files and where the target's converter takes them."""
    from nnport.model.io import atomic_path

    if not report.scales:
        return report
    path = scales_path(output)
    with atomic_path(path, mode=0o644) as tmp:
        tmp.write_text(scales_json(report, target), encoding="utf-8")
    table = ""
    family = "ascend310" if target.startswith("ascend") else target
    if target == "ncnn":
        table_path = Path(output).with_name(Path(output).stem + NCNN_TABLE_SUFFIX)
        with atomic_path(table_path, mode=0o644) as tmp:
            tmp.write_text(ncnn_table(report), encoding="utf-8")
        table = str(table_path)
    note = SCALES_NOTE.get(family, f"{target} runs QDQ models as is: fix without --fold-qdq")
    return replace(report, scales_file=str(path), table_file=table, note=note)
