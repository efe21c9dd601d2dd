"""int64 → int32 and float64 → float32 everywhere (constants converted with range checks, Cast targets, subgraphs)."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import onnx_ir as ir

from nnport.model.graphs import all_graphs, infer_shapes
from nnport.passes.base import (
    Builder,
    Decline,
    FixPass,
    all_nodes,
    default_opset,
    set_dtype,
)

# Hand-rolled: neither onnx-ir nor onnxscript retypes a graph. The pitfalls in DESIGN.md shape
# it: subgraphs are walked with the main graph (outer values are shared objects), tensors are
# converted with numpy (never relabelled), Cast pairs are retargeted (never removed), TopK's K and
# other spec-int64 inputs stay int64, and the int64 count only goes down.

INT32 = np.iinfo(np.int32)
FLOAT32_MAX = float(np.finfo(np.float32).max)
_NARROW = {ir.DataType.INT64: ir.DataType.INT32, ir.DataType.DOUBLE: ir.DataType.FLOAT}

# (op, input index) where the ONNX spec only accepts int64.
SPEC_INT64_INPUTS = {
    ("Reshape", 1), ("Tile", 1), ("Expand", 1), ("ConstantOfShape", 0), ("TopK", 1),
    ("Squeeze", 1), ("Unsqueeze", 1), ("Split", 1), ("Resize", 3), ("Pad", 1), ("Pad", 3),
    ("Loop", 0), ("Upsample", 1), ("OneHot", 1), ("ReduceSum", 1), ("ReduceMean", 1),
    ("ReduceMax", 1), ("ReduceMin", 1), ("ReduceProd", 1), ("ReduceL1", 1), ("ReduceL2", 1),
    ("ReduceSumSquare", 1), ("ReduceLogSum", 1), ("ReduceLogSumExp", 1), ("CenterCropPad", 2),
}  # fmt: skip
# (op, output index) that the spec makes int64 whatever we want.
SPEC_INT64_OUTPUTS = {
    ("Shape", 0), ("Size", 0), ("ArgMax", 0), ("ArgMin", 0), ("NonZero", 0), ("TopK", 1),
    ("NonMaxSuppression", 0), ("Unique", 1), ("Unique", 2), ("Unique", 3),
}  # fmt: skip


def _narrow_array(array: np.ndarray, where: str) -> np.ndarray:
    """Convert int64/float64 data to 32 bits, refusing values that do not fit."""
    if array.dtype == np.int64:
        if array.size and (array.min() < INT32.min or array.max() > INT32.max):
            bad = array.max() if array.max() > INT32.max else array.min()
            raise Decline(f"{where} holds {int(bad)}, which does not fit in int32")
        return array.astype(np.int32)
    if array.dtype == np.float64:
        finite = array[np.isfinite(array)]
        if finite.size and np.abs(finite).max() > FLOAT32_MAX:
            raise Decline(f"{where} holds {float(np.abs(finite).max()):g}, beyond float32")
        return array.astype(np.float32)
    return array


def _narrow_tensor(tensor: ir.TensorProtocol, where: str) -> ir.TensorProtocol:
    data = _narrow_array(np.asarray(tensor.numpy()), where)
    return ir.tensor(data, name=tensor.name)


class RetypeInt64Pass(FixPass):
    """Narrow 64-bit tensors to 32 bits (resolves ``dtype-unsupported`` on int64/float64).

    Values the spec fixes at int64 (Shape, ArgMax, TopK indices outputs) keep it and get one
    Cast to int32 for their consumers; spec-int64 inputs (Reshape shape, TopK K, ...) keep int64
    constants, and a computed one gets a Cast back to int64 only when ``spec_int64`` allows.
    """

    fix_id = "retype-int64"
    resolves = ("dtype-unsupported",)

    def __init__(
        self,
        *,
        spec_int64: bool = True,
        retype_io: bool = True,
        nodes: Collection[str] | None = None,
    ) -> None:
        super().__init__(nodes=nodes)
        self.spec_int64 = spec_int64
        self.retype_io = retype_io

    def call(self, model: ir.Model) -> ir.passes.PassResult:
        infer_shapes(model)  # every value needs its dtype before we decide what to narrow
        nodes = all_nodes(model.graph)
        graphs = list(all_graphs(model.graph))
        fixed = self._fixed_values(model, nodes)
        spec_only = self._spec_only_initializers(graphs, nodes)
        # Phase 1: check every constant fits before touching anything (all or nothing).
        new_inits: dict[int, ir.TensorProtocol] = {}
        for graph in graphs:
            for value in graph.initializers.values():
                if value.dtype in _NARROW and id(value) not in spec_only and value.const_value:
                    where = f"initializer {value.name!r}"
                    new_inits[id(value)] = _narrow_tensor(value.const_value, where)
        new_attrs: dict[int, ir.TensorProtocol] = {}
        for node in nodes:
            attr = node.attributes.get("value")
            if attr is None or attr.type != ir.AttributeType.TENSOR:
                continue
            if attr.as_tensor().dtype not in _NARROW:
                continue
            uses = list(node.outputs[0].uses())
            if uses and all((u.op_type, i) in SPEC_INT64_INPUTS for u, i in uses):
                fixed.add(id(node.outputs[0]))  # a spec-int64 constant stays as it is
                continue
            where = f"{node.op_type} {node.name!r} value"
            new_attrs[id(node)] = _narrow_tensor(attr.as_tensor(), where)
        # Phase 2: relabel values, convert constants, retarget Cast/dtype attributes.
        count = 0
        for graph in graphs:
            for value in graph.initializers.values():
                if id(value) in new_inits:
                    value.const_value = new_inits[id(value)]
                    set_dtype(value, _NARROW[value.dtype])  # type: ignore[index]
                    count += 1
        for node in nodes:
            if id(node) in new_attrs:
                node.attributes["value"] = ir.AttrTensor("value", new_attrs[id(node)])
                count += 1
            for key in ("to", "dtype") if id(node.outputs[0]) not in fixed else ():
                attr = node.attributes.get(key)
                if attr is not None and attr.type == ir.AttributeType.INT:
                    dt = ir.DataType(attr.as_int())
                    if dt in _NARROW:
                        node.attributes[key] = ir.AttrInt64(key, _NARROW[dt].value)
                        count += 1
            for out in node.outputs:
                if out.dtype in _NARROW and id(out) not in fixed:
                    set_dtype(out, _NARROW[out.dtype])  # type: ignore[index]
        for graph in graphs:
            boundary = list(graph.inputs) + list(graph.outputs)
            for value in boundary:
                if value.dtype in _NARROW and id(value) not in fixed and value.const_value is None:
                    if graph is model.graph and not self.retype_io:
                        continue
                    set_dtype(value, _NARROW[value.dtype])  # type: ignore[index]
                    count += 1
        # Phase 3: explicit Casts where a consumer's input type no longer matches what it needs.
        count += self._insert_casts(model, nodes, fixed)
        self.rewritten = count
        return ir.passes.PassResult(model, count > 0)

    def _fixed_values(self, model: ir.Model, nodes: list[ir.Node]) -> set[int]:
        """Values the spec keeps at int64: fixed op outputs, Loop iteration counters, io if kept."""
        fixed: set[int] = set()
        for node in nodes:
            for index, out in enumerate(node.outputs):
                if (node.op_type, index) in SPEC_INT64_OUTPUTS:
                    fixed.add(id(out))
            if node.op_type == "Loop":
                body = node.attributes["body"].as_graph()
                if body.inputs:
                    fixed.add(id(body.inputs[0]))
        if not self.retype_io:
            fixed.update(id(v) for v in model.graph.inputs)
            fixed.update(id(v) for v in model.graph.outputs)
        return fixed

    def _spec_only_initializers(self, graphs: list[ir.Graph], nodes: list[ir.Node]) -> set[int]:
        """int64 initializers used only where the spec wants int64: they stay as they are."""
        keep: set[int] = set()
        for graph in graphs:
            for value in graph.initializers.values():
                uses = list(value.uses())
                if (
                    value.dtype == ir.DataType.INT64
                    and uses
                    and not value.is_graph_output()
                    and all((n.op_type, i) in SPEC_INT64_INPUTS for n, i in uses)
                ):
                    keep.add(id(value))
        return keep

    def _insert_casts(self, model: ir.Model, nodes: list[ir.Node], fixed: set[int]) -> int:
        opset = default_opset(model)
        inserted = 0
        for node in nodes:
            graph = node.graph
            if graph is None:
                continue
            for index, value in enumerate(node.inputs):
                if value is None:
                    continue
                want_int64 = (node.op_type, index) in SPEC_INT64_INPUTS
                if want_int64 and value.dtype == ir.DataType.INT32:
                    if not self.spec_int64:
                        self.declined.append(
                            f"{node.name or node.op_type}: the spec needs int64 at input {index} "
                            "and the target allows no int64 there"
                        )
                        continue
                    to = ir.DataType.INT64
                elif not want_int64 and value.dtype == ir.DataType.INT64 and id(value) in fixed:
                    if node.op_type == "Cast":
                        continue
                    to = ir.DataType.INT32
                else:
                    continue
                b = Builder(graph, opset, node.name or node.op_type)
                cast = b.op("Cast", [value], to=to.value)
                set_dtype(cast, to)
                cast.shape = value.shape
                graph.insert_before(node, list(b.tape.nodes))
                node.replace_input_with(index, cast)
                inserted += 1
        return inserted
