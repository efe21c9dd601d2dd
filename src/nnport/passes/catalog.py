"""The fix catalog: fix id → pass class, as one plain list in the order the planner applies them."""

from __future__ import annotations

from nnport.passes.base import FixPass
from nnport.passes.cast_graph_io import CastGraphIOPass
from nnport.passes.convert_opset import ConvertOpsetPass
from nnport.passes.decompose_clip import DecomposeClipPass
from nnport.passes.decompose_gather_elements import DecomposeGatherElementsPass
from nnport.passes.decompose_gelu import DecomposeGeluPass
from nnport.passes.decompose_hardsigmoid import DecomposeHardSigmoidPass
from nnport.passes.decompose_hardswish import DecomposeHardSwishPass
from nnport.passes.decompose_isnan import DecomposeIsNaNPass
from nnport.passes.decompose_layernorm import DecomposeLayerNormPass
from nnport.passes.decompose_lpnorm import DecomposeLpNormPass
from nnport.passes.decompose_mish import DecomposeMishPass
from nnport.passes.drop_defaults import DropDefaultsPass
from nnport.passes.fold_constants import FoldConstantsPass
from nnport.passes.freeze_shapes import FreezeShapesPass
from nnport.passes.fuse_lpnorm import FuseLpNormPass
from nnport.passes.materialize_broadcast import MaterializeBroadcastPass
from nnport.passes.materialize_empty_branch import MaterializeEmptyBranchPass
from nnport.passes.replace_reduce_mean import ReplaceReduceMeanPass
from nnport.passes.retype_int64 import RetypeInt64Pass
from nnport.passes.rewrite_channel_shuffle import RewriteChannelShufflePass
from nnport.passes.rewrite_gather import RewriteGatherPass
from nnport.passes.rewrite_strided_slice import RewriteStridedSlicePass
from nnport.passes.rewrite_tile import RewriteTilePass
from nnport.passes.write_defaults import WriteDefaultsPass
from nnport.passes.write_split_sizes import WriteSplitSizesPass

# Order matters: shapes first (folding needs them), then op rewrites, then the opset move (so
# decompositions are written at the source opset and converted with the rest), then dtypes.
CATALOG: list[type[FixPass]] = [
    FreezeShapesPass,
    FoldConstantsPass,
    DecomposeLayerNormPass,
    DecomposeGeluPass,
    DecomposeMishPass,
    DecomposeHardSwishPass,
    DecomposeHardSigmoidPass,
    DecomposeLpNormPass,
    FuseLpNormPass,
    DecomposeGatherElementsPass,
    DecomposeClipPass,
    DecomposeIsNaNPass,
    ReplaceReduceMeanPass,
    RewriteChannelShufflePass,
    RewriteTilePass,
    RewriteStridedSlicePass,
    RewriteGatherPass,
    WriteDefaultsPass,
    DropDefaultsPass,
    WriteSplitSizesPass,
    MaterializeBroadcastPass,
    MaterializeEmptyBranchPass,
    ConvertOpsetPass,
    CastGraphIOPass,
    RetypeInt64Pass,
]

FIX_IDS: list[str] = [cls.fix_id for cls in CATALOG]

# Violations check leaves without a fix id that a pass here still resolves: (rule, op) -> fix id,
# op "*" for any op. Consulted by the planner only when the violation names no fix.
FALLBACKS: list[tuple[str, str, str]] = [
    ("op-unsupported", "ReduceMean", "reducemean-to-pool"),
    ("op-unsupported", "IsNaN", "decompose-isnan"),
    ("op-unsupported", "ReduceL2", "fuse-lpnorm"),
    ("rank-exceeded", "Reshape", "rewrite-channel-shuffle"),
    ("rank-exceeded", "Transpose", "rewrite-channel-shuffle"),
    ("attribute-unsupported", "Transpose", "rewrite-channel-shuffle"),
    ("broadcast-unsupported", "*", "materialize-broadcast"),
    ("input-value-unsupported", "Slice", "rewrite-strided-slice"),
]


def fallback_fix(rule: str, op: str) -> str | None:
    """The pass for a violation check gave no fix id, if one of ours applies."""
    return next((f for r, o, f in FALLBACKS if r == rule and o in ("*", op)), None)


def pass_class(fix_id: str) -> type[FixPass] | None:
    """The pass class for a fix id, or None when nnport has none."""
    return next((cls for cls in CATALOG if cls.fix_id == fix_id), None)
