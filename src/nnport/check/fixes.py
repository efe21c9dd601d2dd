"""Which nnport pass (fix id) resolves a violation: the vocabulary shared with nnport.passes."""

from __future__ import annotations

from nnport.check.constness import Constness

FREEZE_SHAPES = "freeze-shapes"
FOLD_CONSTANTS = "fold-constants"
CONVERT_OPSET = "convert-opset"
RETYPE_INT64 = "retype-int64"
CAST_GRAPH_IO = "cast-graph-io"

# op-unsupported: the pass that rewrites the op into ops most targets have.
DECOMPOSITIONS: dict[str, str] = {
    "Tile": "rewrite-tile",
    "Expand": "rewrite-tile",
    "LpNormalization": "decompose-lpnorm",
    "GatherElements": "decompose-gather-elements",
    "HardSwish": "decompose-hardswish",
    "HardSigmoid": "decompose-hardsigmoid",
    "Gelu": "decompose-gelu",
    "Mish": "decompose-mish",
    "LayerNormalization": "decompose-layernorm",
    "Clip": "decompose-clip",
}

# attribute-unsupported on a required attribute: the pass that writes its default out.
# op -> the attribute whose default the pass write-defaults writes out
DEFAULTS_WRITTEN: dict[str, str] = {"Transpose": "perm", "Split": "axis"}
REQUIRED_ATTRIBUTES: dict[tuple[str, str], str] = {
    item: "write-defaults" for item in DEFAULTS_WRITTEN.items()
}
# op -> the attribute the pass drop-defaults leaves out where it is written at its default
# (pnnx gives up on a nearest Resize with nearest_mode written out: defect resize-nearest-mode)
DROP_DEFAULTS = "drop-defaults"
DEFAULTS_DROPPED: dict[str, str] = {"Resize": "nearest_mode"}

# What each fix id does, for messages and docs.
DESCRIPTIONS: dict[str, str] = {
    FREEZE_SHAPES: "freeze dynamic input dims, then fold constants and Shape chains",
    FOLD_CONSTANTS: "constant-fold subgraphs so inputs become initializers",
    CONVERT_OPSET: "convert the model to an opset the target accepts",
    RETYPE_INT64: "retype int64 -> int32 and float64 -> float32 tensors (range-checked)",
    CAST_GRAPH_IO: "add boundary Casts for int64/bool graph inputs and outputs",
    "rewrite-tile": "remove Tile/Expand when consumers broadcast, else rewrite it",
    "rewrite-gather": "Gather with constant indices of several elements -> Slices and a Concat",
    DROP_DEFAULTS: "leave out attributes written at their ONNX default (Resize's nearest_mode)",
    "write-split-sizes": "write a Split's uneven num_outputs parts out as its split input",
    "write-defaults": "write Transpose's default perm and Split's default axis out",
    "decompose-lpnorm": "LpNormalization -> ReduceL2/Div (or ReduceSum(Abs))",
    "decompose-gather-elements": "GatherElements -> Gather/arithmetic the target supports",
    "decompose-hardswish": "HardSwish -> x * HardSigmoid-like arithmetic",
    "decompose-hardsigmoid": "HardSigmoid -> Mul/Add/Clip arithmetic",
    "decompose-gelu": "Gelu -> Erf/Mul/Add arithmetic",
    "decompose-mish": "Mish -> x * Tanh(Softplus(x))",
    "decompose-layernorm": "LayerNormalization -> ReduceMean/Sub/Pow/Sqrt/Div arithmetic",
    "decompose-clip": "Clip -> Max/Min (or Relu) arithmetic",
    "materialize-empty-branch": "compute the zero-size constant an If branch returns at run time",
}


def for_op(op: str) -> str | None:
    """The decomposition pass for an unsupported op, if nnport has one."""
    return DECOMPOSITIONS.get(op)


def for_constness(level: Constness, *, inputs_static: bool = False) -> str | None:
    """The pass that turns a computed input into an initializer, if one can.

    A shape-derived value needs frozen input shapes first, unless every graph input is already
    static: then only shape inference gave up on the way, and folding the chain resolves it.
    """
    if level == Constness.FOLDABLE:
        return FOLD_CONSTANTS
    if level == Constness.SHAPE:
        return FOLD_CONSTANTS if inputs_static else FREEZE_SHAPES
    return None


def for_dtype(dtype: str, allowed: tuple[str, ...]) -> str | None:
    """retype-int64 when a 64-bit type is refused but its 32-bit twin is allowed (or no list)."""
    twin = {"int64": "int32", "float64": "float32"}.get(dtype)
    if twin is None:
        return None
    return RETYPE_INT64 if not allowed or twin in allowed else None


def for_io_dtype(dtype: str) -> str | None:
    """cast-graph-io for 64-bit and bool graph inputs/outputs."""
    return CAST_GRAPH_IO if dtype in ("int64", "bool", "float64") else None
