"""Deployment targets: profile files (schema in ``profile``), lookup by name, and ``check``."""

from __future__ import annotations

from nnport.targets.checker import check
from nnport.targets.profile import (
    GraphRules,
    OpRule,
    Source,
    TargetProfile,
    VersionRange,
    profile_from_dict,
    read_profile,
)
from nnport.targets.profile_write import dump_profile, profile_to_dict
from nnport.targets.registry import PROFILES_DIR, TargetInfo, list_targets, load_target
from nnport.targets.violations import RULES, CheckReport, Violation, ViolationGroup

__all__ = [
    "PROFILES_DIR",
    "RULES",
    "CheckReport",
    "GraphRules",
    "OpRule",
    "Source",
    "TargetInfo",
    "TargetProfile",
    "VersionRange",
    "Violation",
    "ViolationGroup",
    "check",
    "dump_profile",
    "list_targets",
    "load_target",
    "profile_from_dict",
    "profile_to_dict",
    "read_profile",
]
