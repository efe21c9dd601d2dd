"""Deployment targets: profile files (schema in ``profile``), lookup by name, and ``check``."""

from __future__ import annotations

from nnport.targets.profile import (
    GraphRules,
    OpRule,
    Source,
    TargetProfile,
    VersionRange,
    dump_profile,
    profile_from_dict,
    profile_to_dict,
    read_profile,
)
from nnport.targets.registry import PROFILES_DIR, TargetInfo, list_targets, load_target

__all__ = [
    "PROFILES_DIR",
    "GraphRules",
    "OpRule",
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
