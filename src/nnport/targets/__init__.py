"""The target profile: what a runtime or converter accepts (schema in ``profile``), TOML reading
and writing, the registry of shipped profiles (``profiles/``, each citing its source).

May import: ``nnport.model``. Checking a model against a profile lives in ``nnport.check``;
deriving a profile from a runtime in ``nnport.probe``.
"""

from __future__ import annotations

from nnport.targets.profile import (
    GraphRules,
    OpRule,
    Precision,
    Source,
    TargetProfile,
    VersionRange,
)
from nnport.targets.profile_read import profile_from_dict, read_profile
from nnport.targets.profile_write import dump_profile, profile_to_dict
from nnport.targets.registry import PROFILES_DIR, TargetInfo, list_targets, load_target

__all__ = [
    "PROFILES_DIR",
    "GraphRules",
    "OpRule",
    "Precision",
    "Source",
    "TargetInfo",
    "TargetProfile",
    "VersionRange",
    "dump_profile",
    "list_targets",
    "load_target",
    "profile_from_dict",
    "profile_to_dict",
    "read_profile",
]
