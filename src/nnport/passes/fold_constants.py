"""Fold every subgraph whose inputs are constants into initializers (onnxscript's constant folder)."""

from __future__ import annotations

import logging

import numpy as np
import onnx_ir as ir
import onnx_ir.passes.common as common

from nnport.model.graphs import infer_shapes
from nnport.passes.base import FixPass, all_nodes, const_array

logger = logging.getLogger(__name__)

# onnxscript's folder refuses to materialise tensors above this many elements by default; shape
# chains are tiny, but a folded Tile/Expand of a weight can be large.
OUTPUT_SIZE_LIMIT = 1 << 22
SMALL_CONSTANT_OF_SHAPE = 1 << 16


def _should_fold(node: ir.Node) -> bool | None:
    """Also fold small ConstantOfShape nodes, which onnxscript's folder leaves alone by default
    (PyTorch's expand(-1) and masks build shapes from them)."""
    if node.op_type == "ConstantOfShape" and node.domain in ("", "ai.onnx"):
        shape = const_array(node.inputs[0]) if node.inputs else None
        if shape is not None and int(np.prod(shape)) <= SMALL_CONSTANT_OF_SHAPE:
            return True
    return None


class FoldConstantsPass(FixPass):
    """Shape inference, constant folding, Constant nodes lifted to initializers, dead nodes removed.

    Resolves ``input-not-constant`` where the input is computed from constants (Shape chains on
    static shapes, Constant nodes, arithmetic on weights).
    """

    fix_id = "fold-constants"
    resolves = ("input-not-constant",)

    def call(self, model: ir.Model) -> ir.passes.PassResult:
        import onnxscript.optimizer  # imported here: onnxscript costs ~0.3 s and most fixes skip it

        before = len(all_nodes(model.graph))
        infer_shapes(model)
        onnxscript.optimizer.fold_constants(
            model,
            onnx_shape_inference=True,
            output_size_limit=OUTPUT_SIZE_LIMIT,
            should_fold=_should_fold,
        )
        common.LiftConstantsToInitializersPass(lift_all_constants=True, size_limit=0)(model)
        common.RemoveUnusedNodesPass()(model)
        common.RemoveInitializersFromInputsPass()(model)
        after = len(all_nodes(model.graph))
        self.rewritten = max(0, before - after)
        return ir.passes.PassResult(model, self.rewritten > 0)
