"""The walker's context: what every rule reads about the model and the target."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import onnx_ir as ir

from nnport.check.constness import Constness
from nnport.check.infer import Inference, TensorFacts
from nnport.check.violations import CheckReport
from nnport.targets.profile import TargetProfile


@dataclass
class Context:
    """Everything the rules need: the profile, inferred facts, constness, effective opsets."""

    model: ir.Model
    profile: TargetProfile
    inference: Inference
    constness: dict[str, Constness]
    model_opsets: dict[str, int]
    effective_opsets: dict[str, int]
    inputs_static: bool = False
    # id(node) -> its position in check's walk (subgraph nodes included): "Op#i" labels
    indices: dict[int, int] = field(default_factory=dict)
    # check itself, for rules that check a model of their own (a function body): set by the walker
    recheck: Callable[[ir.Model, TargetProfile], CheckReport] | None = None

    def facts(self, value: ir.Value | None) -> TensorFacts:
        """Inferred dtype and shape of ``value``."""
        return self.inference.get(value)

    def level(self, value: ir.Value) -> Constness:
        """How constant ``value`` is (initializers and Constant outputs are CONSTANT)."""
        if value.const_value is not None or value.is_initializer():
            return Constness.CONSTANT
        return self.constness.get(value.name or "", Constness.RUNTIME)
