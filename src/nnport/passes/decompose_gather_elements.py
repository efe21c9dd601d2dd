"""GatherElements(data, idx, axis) → Gather(Reshape(data, [-1]), flat index) or a one-hot MatMul."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx_ir as ir

from nnport.passes.base import Builder, Decline, NodeRewritePass, const_array, static_shape

# Hand-rolled: no shipped rule lowers GatherElements (MindSpore GatherD) to Gather.
ONE_HOT_LIMIT = 1 << 16  # elements of the constant selection matrix we accept


def _strides(shape: tuple[int, ...]) -> np.ndarray:
    return np.array([int(np.prod(shape[i + 1 :])) for i in range(len(shape))], np.int64)


class DecomposeGatherElementsPass(NodeRewritePass):
    """Lower GatherElements to a flat Gather (flat index = idx·stride + a constant base).

    With constant indices the whole flat index is precomputed; when Gather is missing but MatMul
    exists (NNIE-like) constant indices become a one-hot selection MatMul. Needs static shapes.
    """

    fix_id = "decompose-gather-elements"
    resolves = ("op-unsupported",)
    op_type = "GatherElements"

    def rewrite(self, node: ir.Node, b: Builder) -> Sequence[ir.Value]:
        data, index = node.inputs[0], node.inputs[1]
        assert data is not None and index is not None
        d_shape, i_shape = static_shape(data), static_shape(index)
        if d_shape is None or i_shape is None:
            raise Decline("data and indices need static shapes (freeze-shapes first)")
        rank = len(d_shape)
        axis = node.attributes.get_int("axis", 0) % rank
        strides = _strides(d_shape)
        grid = np.indices(i_shape, dtype=np.int64)
        base = sum(grid[k] * strides[k] for k in range(rank) if k != axis)
        base = np.asarray(base, np.int64)
        flat_len = int(np.prod(d_shape))
        constant = const_array(index)
        flat_shape = b.const([flat_len], np.int64, hint="flat_shape")
        if constant is not None:
            idx = np.where(constant < 0, constant + d_shape[axis], constant).astype(np.int64)
            flat_index = idx * strides[axis] + base
            use_matmul = not self.has_op("Gather") and self.has_op("MatMul")
            if use_matmul and flat_len * flat_index.size <= ONE_HOT_LIMIT:
                select = np.zeros((flat_len, flat_index.size), np.float32)
                select[flat_index.reshape(-1), np.arange(flat_index.size)] = 1.0
                row = b.op("Reshape", [data, b.const([1, flat_len], np.int64, hint="row")])
                picked = b.op("MatMul", [row, b.const(select.astype(_dtype(data)), hint="onehot")])
                return [b.op("Reshape", [picked, b.const(list(i_shape), np.int64, hint="shape")])]
            if not self.has_op("Gather"):
                raise Decline("the target has neither Gather nor MatMul to express it")
            flat = b.op("Reshape", [data, flat_shape])
            return [
                b.op("Gather", [flat, b.const(flat_index, np.int32, hint="flat_index")], axis=0)
            ]
        if not self.has_op("Gather"):
            raise Decline("computed indices need Gather, which the target lacks")
        dt = np.int64 if index.dtype == ir.DataType.INT64 else np.int32
        if flat_len > np.iinfo(np.int32).max and dt is np.int32:
            raise Decline("the flattened data is too large for int32 indices")
        scaled = b.op("Mul", [index, b.const(strides[axis], dt, hint="stride")])
        flat_index = b.op("Add", [scaled, b.const(base, dt, hint="base")])
        flat = b.op("Reshape", [data, flat_shape])
        return [b.op("Gather", [flat, flat_index], axis=0)]


def _dtype(value: ir.Value) -> np.dtype:
    return np.dtype(value.dtype.numpy()) if value.dtype is not None else np.dtype(np.float32)
