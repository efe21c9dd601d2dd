"""Move the default-domain opset into the target's range with onnx.version_converter."""

from __future__ import annotations

import onnx
import onnx.version_converter
import onnx_ir as ir

from nnport.model.external import keep_data_folder
from nnport.passes.base import Decline, FixPass, all_nodes, default_opset
from nnport.passes.decompose_gelu import DecomposeGeluPass
from nnport.passes.decompose_hardswish import DecomposeHardSwishPass
from nnport.passes.decompose_layernorm import DecomposeLayerNormPass
from nnport.passes.decompose_mish import DecomposeMishPass
from nnport.passes.fold_constants import FoldConstantsPass
from nnport.passes.opset_adapters import check_against_schemas, downgrade_nodes

# Ops the converter cannot move below the opset that introduced them: decompose first.
_DECOMPOSE_BELOW = (
    ("LayerNormalization", 17, DecomposeLayerNormPass),
    ("Gelu", 20, DecomposeGeluPass),
    ("Mish", 18, DecomposeMishPass),
    ("HardSwish", 14, DecomposeHardSwishPass),
)
# The IR version each opset needs at least (onnx.helper.VERSION_TABLE, flattened).
_MIN_IR = {7: 3, 8: 3, 9: 4, 10: 5, 11: 6, 12: 7, 13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8}


class ConvertOpsetPass(FixPass):
    """Down- or up-convert to ``target_version`` (resolves ``opset-out-of-range``).

    Before going down it folds constants (axes/split/scales inputs must be constants for the
    converter to turn them back into attributes) and decomposes ops newer than the target.
    """

    fix_id = "convert-opset"
    resolves = ("opset-out-of-range",)

    def __init__(self, target_version: int) -> None:
        super().__init__()
        self.target_version = target_version

    @property
    def in_place(self) -> bool:
        """The result is always a new model; the input is left as it was."""
        return False

    @property
    def changes_input(self) -> bool:
        """Work happens on a clone."""
        return False

    def call(self, model: ir.Model) -> ir.passes.PassResult:
        current = default_opset(model)
        newest = onnx.defs.onnx_opset_version()
        if current > newest:  # relabelling it would claim ops mean what they meant before
            raise Decline(
                f"the model imports ai.onnx opset {current}, newer than the newest this onnx "
                f"{onnx.__version__} knows ({newest}); nothing can say what its ops mean there"
            )
        source = model
        model = model.clone()
        if current == self.target_version:
            return ir.passes.PassResult(model, False)
        if current > self.target_version:
            self._decompose_newer_ops(model)
            try:  # our adapters first: the converter lacks most down adapters (see opset_adapters)
                return self._downgrade_by_hand(model, current)
            except Decline as first:
                model = source.clone()
                FoldConstantsPass()(model)  # computed axes may fold to constants
                self._decompose_newer_ops(model)
                try:
                    return self._downgrade_by_hand(model, current)
                except Decline:
                    hand_error = first
        else:
            hand_error = None
        proto = ir.serde.serialize_model(model)
        try:
            converted = onnx.version_converter.convert_version(proto, self.target_version)
        except Exception as exc:  # the converter raises RuntimeError/ConvertError with C++ text
            if hand_error is not None:
                raise hand_error from exc
            first_line = next((ln for ln in str(exc).splitlines() if ln.strip()), "")
            raise Decline(
                f"onnx.version_converter cannot take opset {current} to "
                f"{self.target_version}: {first_line[:300]}"
            ) from exc
        converted.ir_version = max(
            _MIN_IR.get(self.target_version, converted.ir_version),
            min(converted.ir_version, proto.ir_version),
        )
        new = keep_data_folder(ir.serde.deserialize_model(converted), model)
        new.meta.update(model.meta)
        check_against_schemas(new)  # the converter can keep ops the target opset lacks
        self.rewritten += len(all_nodes(new.graph))
        return ir.passes.PassResult(new, True)

    def _decompose_newer_ops(self, model: ir.Model) -> None:
        for op_type, since, pass_cls in _DECOMPOSE_BELOW:
            if self.target_version < since:
                sub = pass_cls()
                sub(model)
                self.rewritten += sub.rewritten
                if sub.declined:
                    raise Decline(f"cannot decompose {op_type}: {'; '.join(sub.declined)}")

    def _downgrade_by_hand(self, model: ir.Model, current: int) -> ir.passes.PassResult:
        """Our adapters, then every node checked against the target opset's schemas."""
        self.rewritten += downgrade_nodes(model, current, self.target_version)
        model.opset_imports[""] = self.target_version
        model.ir_version = max(_MIN_IR.get(self.target_version, 3), min(model.ir_version, 8))
        check_against_schemas(model)
        return ir.passes.PassResult(model, True)
