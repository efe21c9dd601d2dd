"""fp16/bf16 emulation: every float tensor rounded to the format between operators
(Cast to the format and back to float32), weights rounded once; run on ONNX Runtime with
graph optimizations disabled so the graph that runs is the graph the device gets."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping

import numpy as np
import onnx_ir as ir

from nnport.backends.base import Feeds, Runner
from nnport.backends.onnxruntime import OnnxRuntimeRunner
from nnport.errors import UsageError
from nnport.model.external import keep_data_folder
from nnport.model.specs import TensorInfo
from nnport.precision.formats import NumberFormat, get_format, round_to

logger = logging.getLogger(__name__)

# Nodes whose float outputs are already the rounded outputs of their subgraphs (If, Loop,
# Scan): rounding them again is harmless, but the extra Casts say nothing, so they are skipped.
_CONTROL_FLOW = {"If", "Loop", "Scan"}
EMULATED_KEY = "nnport.emulated_precision"
BF16_CAST_OPSET = 13  # Cast to and from bfloat16 (Cast-13)


def emulate(model: ir.Model, fmt: str, keep: Collection[str] = ()) -> ir.Model:
    """A new model computing as a device in ``fmt`` (fp16 or bf16) does; ``model`` is untouched.

    Every float32 tensor a node outputs is rounded to ``fmt`` right after it (the rounded
    tensor takes the original name, so tensors compare by name with the fp32 model), float32
    weights are rounded once, and graph inputs are rounded where a rounded node reads them.
    Nodes named in ``keep`` compute in fp32: their outputs are not rounded, and a rounded
    node reading one of them reads it rounded (a separate ``NAME__fp16`` tensor), as a device
    casts a kept node's output back to fp16 for the next fp16 operator. Accumulation inside
    an operator stays in float32 (the operators still run on float32 tensors).

    Hand-rolled rewrite (onnx-ir values and nodes): no onnx-ir/onnxscript pass inserts
    quantize-dequantize pairs of a float format.
    """
    spec = get_format(fmt)
    if not spec.is_float or spec.onnx_type is None:
        raise UsageError(
            f"emulate rounds to a floating format, not {spec.name}",
            hint="int8 is emulated by quantization (nnport.precision.int8)",
        )
    keep_set = set(keep)
    copy = model.clone()
    if spec.name == "bf16" and copy.opset_imports.get("", 13) < BF16_CAST_OPSET:
        copy = _to_opset(copy, BF16_CAST_OPSET)
    _infer_types(copy)
    names = {n.name for n in copy.graph.all_nodes() if n.name}
    unknown = sorted(keep_set - names)
    if unknown:
        raise UsageError(
            f"keep names node(s) the model does not have: {', '.join(unknown[:5])}"
            + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""),
            hint="give node names of the model (nnport compare --bisect names them)",
        )
    if spec.name == "fp32":
        return copy
    _Rewrite(copy, spec, keep_set).run()
    copy.metadata_props[EMULATED_KEY] = spec.name
    return copy


def _to_opset(model: ir.Model, version: int) -> ir.Model:
    """``model`` converted to ``version`` of the default domain by onnx's version converter
    (semantics-preserving adapters); Cast to bfloat16 exists only from Cast-13 on, and neither
    a model-local function at another opset nor a bit cast (ONNX has none before it) can
    stand in for it."""
    import onnx

    proto = ir.serde.serialize_model(model)
    try:
        converted = onnx.version_converter.convert_version(proto, version)
    except Exception as exc:
        raise UsageError(
            f"bf16 emulation needs opset {version} (Cast to bfloat16), and onnx could not "
            f"convert this opset-{model.opset_imports.get('', 0)} model: "
            + " ".join(str(exc).split())[:200],
            hint="convert the model to opset 13 or later first, or emulate fp16",
        ) from exc
    logger.info("bf16 emulation: the copy was converted to opset %d", version)
    return keep_data_folder(ir.serde.deserialize_model(converted), model)


def _infer_types(model: ir.Model) -> None:
    """Fill in missing element types of intermediate tensors (ONNX shape inference)."""
    missing = any(
        out.type is None for node in model.graph.all_nodes() for out in node.outputs if out.name
    )
    if not missing:
        return
    try:
        from onnx_ir.passes.common import ShapeInferencePass

        ShapeInferencePass()(model)
    except Exception as exc:  # tensors without a type are then left in float32
        logger.warning("shape inference failed (%s); untyped tensors are not rounded", exc)


class _Rewrite:
    """The rounding rewrite over one model (main graph and subgraphs)."""

    def __init__(self, model: ir.Model, spec: NumberFormat, keep: set[str]) -> None:
        self.model = model
        self.spec = spec
        self.keep = keep
        self.suffix = f"__{spec.name}"
        self.counter = 0
        self.taken = {
            v.name
            for g in (model.graph, *model.graph.subgraphs())
            for v in (*g.inputs, *g.initializers.values(), *(o for n in g for o in n.outputs))
            if v.name
        }

    def fresh(self, name: str) -> str:
        """``name``, or ``name_2``, ``name_3``... when the model already has it."""
        candidate, index = name, 1
        while candidate in self.taken:
            index += 1
            candidate = f"{name}_{index}"
        self.taken.add(candidate)
        return candidate

    def run(self) -> None:
        graphs = [self.model.graph, *self.model.graph.subgraphs()]
        for graph in graphs:
            self._round_graph(graph)

    def _is_float(self, value: ir.Value | None) -> bool:
        return value is not None and value.dtype == ir.DataType.FLOAT

    def _kept(self, node: ir.Node) -> bool:
        return bool(node.name) and node.name in self.keep

    def _casts(self, value: ir.Value, graph: ir.Graph) -> tuple[ir.Node, ir.Node]:
        self.counter += 1
        base = value.name or f"tensor{self.counter}"
        down = ir.node(
            "Cast",
            [value],
            attributes={"to": self.spec.onnx_type},
            name=f"{base}__to_{self.spec.name}",
        )
        up = ir.node(
            "Cast",
            [down.outputs[0]],
            attributes={"to": ir.DataType.FLOAT},
            name=f"{base}__from_{self.spec.name}",
        )
        down.outputs[0].name = self.fresh(f"{base}{self.suffix}_bits")
        down.outputs[0].type = ir.TensorType(self.spec.onnx_type)  # type: ignore[arg-type]
        down.outputs[0].shape = value.shape
        up.outputs[0].type = ir.TensorType(ir.DataType.FLOAT)
        up.outputs[0].shape = value.shape
        return down, up

    def _round_graph(self, graph: ir.Graph) -> None:
        original = list(graph)
        for node in original:
            if self._kept(node) or (node.op_type in _CONTROL_FLOW and node.domain == ""):
                continue
            for value in node.outputs:
                if self._is_float(value) and (value.uses() or value.is_graph_output()):
                    self._round_output(graph, node, value)
        # Values a rounded node reads that nobody rounded: graph inputs, weights, outputs of
        # kept nodes and of outer scopes' kept nodes.
        for node in original:
            if self._kept(node):
                continue
            for index, source in enumerate(node.inputs):
                if source is None or not self._is_float(source) or self._is_rounded(source):
                    continue
                node.replace_input_with(index, self._rounded_input(graph, node, source))
        for name, weight in list(graph.initializers.items()):
            if not weight.uses() and not weight.is_graph_input() and not weight.is_graph_output():
                del graph.initializers[name]  # every reader now reads the rounded copy

    def _is_rounded(self, value: ir.Value) -> bool:
        producer = value.producer()
        if producer is None or producer.op_type != "Cast" or producer.domain != "":
            return False
        inner = producer.inputs[0]
        cast = inner.producer() if inner is not None else None
        return (
            cast is not None
            and cast.op_type == "Cast"
            and cast.attributes.get_int("to") == self.spec.onnx_type
        ) or value.meta.get("nnport.rounded", False)

    def _round_output(self, graph: ir.Graph, node: ir.Node, value: ir.Value) -> None:
        """Round ``value`` right after ``node``; the rounded tensor takes its name."""
        uses = list(value.uses())
        outputs = [i for i, v in enumerate(graph.outputs) if v is value]
        name = value.name
        down, up = self._casts(value, graph)
        rounded = up.outputs[0]
        graph.insert_after(node, [down, up])
        for user, index in uses:
            user.replace_input_with(index, rounded)
        for i in outputs:
            graph.outputs[i] = rounded
        if name:
            value.name = self.fresh(f"{name}__fp32")
            rounded.name = name

    def _rounded_input(self, graph: ir.Graph, node: ir.Node, value: ir.Value) -> ir.Value:
        """A rounded copy of ``value`` shared by every rounded reader in ``graph``."""
        cached = value.meta.get(f"nnport.rounded_copy{self.suffix}:{id(graph)}")
        if isinstance(cached, ir.Value):
            return cached
        const = value.const_value if value.is_initializer() else None
        if const is not None:
            array = round_to(const.numpy().astype(np.float32), self.spec)
            name = self.fresh(f"{value.name}{self.suffix}")
            copy = ir.Value(
                name=name,
                type=ir.TensorType(ir.DataType.FLOAT),
                shape=value.shape,
                const_value=ir.tensor(array, name=name),
            )
            owner = value.graph if value.graph is not None else graph
            owner.register_initializer(copy)
            rounded = copy
        else:
            down, up = self._casts(value, graph)
            producer = value.producer()
            if producer is not None and producer.graph is graph:
                graph.insert_after(producer, [down, up])
            else:
                graph.insert_before(node, [down, up])
            rounded = up.outputs[0]
            rounded.name = self.fresh(f"{value.name}{self.suffix}")
        rounded.meta["nnport.rounded"] = True
        value.meta[f"nnport.rounded_copy{self.suffix}:{id(graph)}"] = rounded
        return rounded


class EmulatedRunner(Runner):
    """Runs ``model`` as a device computing in ``fmt`` does: ``emulate(model, fmt, keep)`` on
    ONNX Runtime's CPU provider with graph optimizations disabled (a fusion would hide the
    rounding between the fused operators)."""

    name = "emulated"

    def __init__(
        self,
        model: ir.Model,
        fmt: str,
        *,
        keep: Collection[str] = (),
        threads: int | None = None,
    ) -> None:
        super().__init__()
        self.format = get_format(fmt)
        self.keep = tuple(sorted(keep))
        self._runner = OnnxRuntimeRunner(
            emulate(model, self.format.name, self.keep), threads=threads, optimization="disable"
        )

    def _activate(self) -> None:
        self._runner.__enter__()

    def _deactivate(self) -> None:
        self._runner.__exit__(None, None, None)

    def input_specs(self) -> list[TensorInfo]:
        return self._runner.input_specs()

    def output_names(self) -> list[str]:
        """Names of the model outputs, in graph order."""
        return self._runner.output_names()

    def _infer(self, feeds: Feeds) -> dict[str, np.ndarray]:
        return self._runner.infer(feeds)

    def config(self) -> dict[str, str]:
        config = dict(self._runner.config())
        config["precision"] = self.format.name
        config["precision_mode"] = "emulated"
        if self.keep:
            config["kept_fp32"] = str(len(self.keep))
        return config


def run_emulated(
    model: ir.Model, fmt: str, feeds: Mapping[str, np.ndarray], keep: Collection[str] = ()
) -> dict[str, np.ndarray]:
    """One run of ``model`` emulated in ``fmt`` (see ``emulate``) on ``feeds``."""
    with EmulatedRunner(model, fmt, keep=keep) as runner:
        return runner.infer(feeds)
