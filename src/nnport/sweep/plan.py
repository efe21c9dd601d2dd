"""A sweep plan: models, targets, precisions and verbs (with options), checked before any cell
runs, expanded into keyed cells."""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import importlib.metadata
import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnport.errors import UsageError

VERBS = ("check", "fix", "port", "compare", "bench", "evaluate")
# Verbs that run the model on the target itself: only where the target is a runtime here.
RUNTIME_VERBS = ("compare", "bench", "evaluate")
RUNTIMES = ("onnxruntime", "openvino", "ncnn")
PRECISIONS = ("fp32", "fp16", "bf16", "int8")
_PLAN_KEYS = {"models", "targets", "precisions", "verbs", "timeout", *VERBS}


@dataclass(frozen=True)
class Cell:
    """One unit of work: a verb on one model for one target in one number format."""

    key: str
    model: str  # absolute path
    model_sha256: str
    target: str
    precision: str
    verb: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """'resnet18.onnx ascend310 fp16 check'."""
        return f"{Path(self.model).name} {self.target} {self.precision} {self.verb}"


@dataclass(frozen=True)
class Plan:
    """A validated plan: resolved model files, targets, precisions, verbs and their options."""

    path: str
    models: tuple[str, ...]
    targets: tuple[str, ...]
    precisions: tuple[str, ...]
    verbs: tuple[str, ...]
    options: dict[str, dict[str, Any]]
    timeout: float | None = None


def nnport_version() -> str:
    """The installed nnport's version (part of every cell's key)."""
    try:
        return importlib.metadata.version("nnport")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a tree
        return "0+unknown"


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _strings(table: Mapping[str, Any], key: str, where: str, required: bool = True) -> list[str]:
    value = table.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where}: '{key}' must be a non-empty list of strings")
    return value


def _models(patterns: Sequence[str], base: Path, where: str) -> tuple[str, ...]:
    found: list[str] = []
    for pattern in patterns:
        full = pattern if Path(pattern).is_absolute() else str(base / pattern)
        matches = sorted(glob.glob(full, recursive=True)) if glob.has_magic(full) else [full]
        files = [m for m in matches if Path(m).is_file()]
        if not files:
            raise UsageError(f"{where}: models entry {pattern!r} matches no model file")
        found += [str(Path(m).resolve()) for m in files]
    return tuple(dict.fromkeys(found))


def _targets(names: Sequence[str], where: str) -> tuple[str, ...]:
    from nnport.targets import load_target

    out = []
    for name in names:
        try:
            out.append(load_target(name).name)
        except Exception as exc:  # UnsupportedTargetError: one line naming the entry
            raise UsageError(f"{where}: targets entry {name!r}: {exc}") from exc
    return tuple(out)


def option_class(verb: str) -> type:
    """The options dataclass the verb's library function takes."""
    if verb == "fix":
        from nnport.passes.planner import FixOptions

        return FixOptions
    if verb == "port":
        from nnport.pipeline import PortOptions

        return PortOptions
    if verb == "compare":
        from nnport.verify.compare import CompareOptions

        return CompareOptions
    if verb == "bench":
        from nnport.bench.run import BenchOptions

        return BenchOptions
    if verb == "evaluate":
        from nnport.verify.evaluate import EvaluateOptions

        return EvaluateOptions
    return _CheckOptions


@dataclass(frozen=True)
class _CheckOptions:
    input_shapes: dict[str, list[int]] | None = None


def _options(verb: str, table: Any, where: str) -> dict[str, Any]:
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise UsageError(f"{where}: [{verb}] must be a table of options")
    fields = {f.name: f for f in dataclasses.fields(option_class(verb))}
    for key, value in table.items():
        if key not in fields or key == "precision":
            allowed = ", ".join(sorted(k for k in fields if k != "precision"))
            raise UsageError(f"{where}: [{verb}] has no option {key!r} (options: {allowed})")
        default = fields[key].default
        if default is not dataclasses.MISSING and default is not None:
            kind = type(default)
            ok = isinstance(value, kind) or (kind is float and isinstance(value, int))
            ok = ok or (kind is tuple and isinstance(value, list))
            if not ok or isinstance(value, bool) != isinstance(default, bool):
                raise UsageError(
                    f"{where}: [{verb}] option {key!r} must be {kind.__name__}, "
                    f"got {type(value).__name__}"
                )
    return dict(table)


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file; every model, target, verb and option is checked here,
    so a bad entry is refused before any cell runs."""
    path = Path(path)
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UsageError(f"no plan file at {where}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, IsADirectoryError) as exc:
        raise UsageError(f"{where} is not a TOML plan: {exc}") from exc
    unknown = sorted(set(data) - _PLAN_KEYS)
    if unknown:
        raise UsageError(
            f"{where}: unknown key {unknown[0]!r}", hint=f"keys: {', '.join(sorted(_PLAN_KEYS))}"
        )
    verbs = _strings(data, "verbs", where)
    for verb in verbs:
        if verb not in VERBS:
            raise UsageError(f"{where}: verbs entry {verb!r} is not a verb ({', '.join(VERBS)})")
    precisions = _strings(data, "precisions", where, required=False) or ["fp32"]
    for precision in precisions:
        if precision not in PRECISIONS:
            raise UsageError(
                f"{where}: precisions entry {precision!r} is not one of {', '.join(PRECISIONS)}"
            )
    for verb in VERBS:
        if verb in data and verb not in verbs:
            raise UsageError(f"{where}: options for [{verb}], which 'verbs' does not list")
    timeout = data.get("timeout")
    if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
        raise UsageError(f"{where}: 'timeout' must be a positive number of seconds")
    return Plan(
        path=str(path.resolve()),
        models=_models(_strings(data, "models", where), path.parent, where),
        targets=_targets(_strings(data, "targets", where), where),
        precisions=tuple(dict.fromkeys(precisions)),
        verbs=tuple(dict.fromkeys(verbs)),
        options={verb: _options(verb, data.get(verb), where) for verb in verbs},
        timeout=float(timeout) if timeout is not None else None,
    )


def cell_key(
    sha256: str, target: str, precision: str, verb: str, options: Mapping[str, Any]
) -> str:
    """A cell's identity: what it ran on and with (the model's bytes, not its path)."""
    text = json.dumps(
        [sha256, target, precision, verb, dict(options), nnport_version()], sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def expand(plan: Plan) -> tuple[list[Cell], int]:
    """Every applicable cell of the plan, and how many (model, target, ...) combinations were
    left out because the verb runs the model on the target and the target is no runtime here."""
    cells, left_out, seen = [], 0, set()
    hashes = {m: file_sha256(m) for m in plan.models}
    for model in plan.models:
        for target in plan.targets:
            for precision in plan.precisions:
                for verb in plan.verbs:
                    fmt = precision
                    if verb == "check":  # check judges the model, in the target's own format
                        if precision != plan.precisions[0]:
                            continue
                        fmt = "default"
                    if verb in RUNTIME_VERBS and target not in RUNTIMES:
                        left_out += 1
                        continue
                    options = plan.options.get(verb, {})
                    key = cell_key(hashes[model], target, fmt, verb, options)
                    if key in seen:  # the same bytes under another name: one cell
                        continue
                    seen.add(key)
                    cells.append(Cell(key, model, hashes[model], target, fmt, verb, options))
    return cells, left_out
