"""Find target profiles by name (shipped in targets/profiles/) or by path, and list them."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from nnport.errors import UnsupportedTargetError
from nnport.targets.profile import TargetProfile
from nnport.targets.profile_read import read_profile

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"


@dataclass(frozen=True)
class TargetInfo:
    """One line of ``nnport targets``: a shipped profile's name, source, date and opset range."""

    name: str
    description: str
    source: str
    date: str
    opsets: str
    ops: int
    path: str


def shipped_names() -> list[str]:
    """Names of the profiles shipped with nnport."""
    return sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))


@functools.lru_cache(maxsize=32)
def _load_cached(path: str, mtime: float) -> TargetProfile:
    return read_profile(path)


def canonical_name(name_or_path: str) -> str:
    """The shipped profile's own spelling of a name given in any case ('Ascend310' ->
    'ascend310'); a path or an unknown name comes back unchanged."""
    by_name = {name.lower(): name for name in shipped_names()}
    return by_name.get(name_or_path.strip().lower(), name_or_path)


def load_target(name_or_path: str) -> TargetProfile:
    """Load a shipped profile by name ('ascend310', any case) or any profile file by path."""
    candidate = Path(name_or_path).expanduser()
    if name_or_path.endswith(".toml") or candidate.is_file():
        path = candidate
    else:
        # Names are matched case-insensitively: `--target Ascend310` is `ascend310`.
        path = PROFILES_DIR / f"{canonical_name(name_or_path)}.toml"
        if not path.is_file():
            known = ", ".join(shipped_names()) or "none"
            raise UnsupportedTargetError(
                f"unknown target {name_or_path!r}; known targets: {known}",
                hint="or pass the path of a profile .toml file",
            )
    if not path.is_file():
        raise UnsupportedTargetError(f"no such target profile file: {path}")
    return _load_cached(str(path.resolve()), path.stat().st_mtime)


def list_targets() -> list[TargetInfo]:
    """Every shipped profile, validated (a malformed one raises UnsupportedTargetError)."""
    infos = []
    for name in shipped_names():
        profile = load_target(name)
        infos.append(
            TargetInfo(
                name=profile.name,
                description=profile.description,
                source=profile.source.text(),
                date=profile.date,
                opsets=profile.opset_text(),
                ops=len(profile.op_names()),
                path=profile.path,
            )
        )
    return infos
