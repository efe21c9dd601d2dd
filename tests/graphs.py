"""Helpers the pass tests share: build an onnx-ir model from ONNX text, list its ops."""

from __future__ import annotations

import onnx
import onnx_ir as ir

from nnport.passes.fold_constants import infer_shapes


def parse(text: str) -> ir.Model:
    """An onnx-ir model from ONNX text (``onnx.parser`` syntax)."""
    return ir.serde.deserialize_model(onnx.parser.parse_model(text))


def parse_inferred(text: str) -> ir.Model:
    """As ``parse``, with shapes and types inferred on every value."""
    model = parse(text)
    infer_shapes(model)
    return model


def ops(model: ir.Model) -> list[str]:
    """The main graph's op types in order."""
    return [n.op_type for n in model.graph]
