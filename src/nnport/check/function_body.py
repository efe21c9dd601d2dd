"""What stops a runtime from running a node through its context-dependent ONNX function body.

A runtime that expands ONNX functions (ONNX Runtime) runs a node with no kernel for its types
through the op's function body. Some bodies are built from the node itself, its attributes
and input types (Attention, CastLike); onnx builds them on request
(``OpSchema.get_context_dependent_function``). The body is checked here as a model of its own
against the same profile: ONNX Runtime expands a bfloat16 causal Attention into an Expand that
has no bfloat16 kernel, and refuses the session. onnx-ir has no context-dependent expansion,
hence this module.
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING

import onnx
import onnx_ir as ir

from nnport.model.dtypes import from_name

if TYPE_CHECKING:
    from nnport.check.context import Context

KEPT = ("op-unsupported", "dtype-unsupported", "attribute-unsupported")
_DEPTH: contextvars.ContextVar[int] = contextvars.ContextVar("body_depth", default=0)


def body_problem(ctx: Context, node: ir.Node, version: int) -> str:
    """The first op of ``node``'s context-dependent body the profile refuses ('' when none, or
    when the body cannot be built: unknown input types, no such body)."""
    depth = _DEPTH.get()
    if depth > 1:  # a body inside a body inside a body: not followed
        return ""
    model = _body_model(ctx, node, version)
    if model is None or ctx.recheck is None:
        return ""
    token = _DEPTH.set(depth + 1)
    try:
        report = ctx.recheck(model, ctx.profile)
    except Exception:  # a body check cannot read is no evidence either way
        return ""
    finally:
        _DEPTH.reset(token)
    for v in report.violations:
        if v.rule in KEPT:
            return f"{v.op} ({v.message.split('; ', 1)[-1]})"
    return ""


def _body_model(ctx: Context, node: ir.Node, version: int) -> ir.Model | None:
    domain = "" if node.domain in ("", "ai.onnx") else node.domain
    try:
        schema = onnx.defs.get_schema(node.op_type, version, domain)
    except onnx.defs.SchemaError:
        return None
    # (the onnx stubs lack these members of OpSchema)
    if not getattr(schema, "has_context_dependent_function", False):
        return None
    if getattr(schema, "has_function", False):
        return None
    types: list[bytes] = []
    inputs: list[onnx.ValueInfoProto] = []
    for value in node.inputs:
        if value is None:
            types.append(onnx.TypeProto().SerializeToString())
            continue
        facts = ctx.facts(value)
        if facts.dtype == "unknown":
            return None
        shape = None if facts.shape is None else [d if isinstance(d, int) else None
                                                  for d in facts.shape]  # fmt: skip
        elem = int(from_name(facts.dtype))
        types.append(onnx.helper.make_tensor_type_proto(elem, shape).SerializeToString())
        if all(i.name != value.name for i in inputs):  # Attention(x, x, x) declares x once
            inputs.append(onnx.helper.make_tensor_value_info(value.name or "", elem, shape))
    try:
        proto = ir.serde.serialize_node(node)
        body = onnx.FunctionProto()
        build = getattr(schema, "get_context_dependent_function")  # noqa: B009 (stubs)
        body.ParseFromString(build(proto.SerializeToString(), types))
    except Exception:  # onnx cannot build it for these types
        return None
    # The body's formal inputs and outputs are renamed to the node's actual ones.
    names = dict(zip(body.input, proto.input, strict=False))
    names.update(zip(body.output, proto.output, strict=False))
    for inner in body.node:
        inner.input[:] = [names.get(n, n) for n in inner.input]
        inner.output[:] = [names.get(n, n) for n in inner.output]
    outputs = [onnx.helper.make_empty_tensor_value_info(n) for n in proto.output if n]
    graph = onnx.helper.make_graph(list(body.node), "body", inputs, outputs)
    model = onnx.helper.make_model(graph, opset_imports=list(body.opset_import))
    try:
        return ir.serde.deserialize_model(model)
    except Exception:  # a body onnx-ir cannot read is no evidence either way
        return None
