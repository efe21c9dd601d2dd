"""The layering of docs/architecture.md holds: no import cycles between modules of ``src/nnport``,
and no module imports from a room the table does not allow (lazy and type-only imports count)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "nnport"

# room -> the rooms it may import (besides itself and the shared ``errors`` and ``results``);
# the living copy of docs/architecture.md's table.
_PIPELINE = {"model", "targets", "check", "backends", "precision", "verify", "passes", "bench",
             "data", "recipes"}  # fmt: skip
ALLOWED: dict[str, set[str]] = {
    "model": set(),
    "targets": {"model"},
    "check": {"model", "targets"},
    "backends": {"model"},
    "precision": {"model", "backends"},
    "data": {"model"},
    "verify": {"model", "backends", "precision", "data"},
    "probe": {"model", "targets", "check", "backends"},
    "passes": {"model", "targets", "check", "backends", "verify", "precision"},
    "bench": {"model", "backends", "verify", "precision"},
    "recipes": {"model", "backends", "verify", "data", "precision"},
    "pipeline": _PIPELINE,
    "sweep": _PIPELINE | {"pipeline", "probe"},
    "report": _PIPELINE | {"pipeline", "probe", "sweep"},
}
SHARED = {"errors", "results", "(root)"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the nnport modules it imports (``from pkg import sub`` counts as ``pkg.sub``)."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.startswith("nnport")}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                if not base.startswith("nnport"):
                    continue
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.add(sub if sub in modules else base)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(root)"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    assert _cycles(_imports(_modules())) == []


def test_rooms_import_only_downward() -> None:
    wrong = []
    for module, targets in _imports(_modules()).items():
        room = _room(module)
        if room not in ALLOWED:
            continue  # cli and the package facade may import everything public
        for target in targets:
            other = _room(target)
            if other != room and other not in SHARED and other not in ALLOWED[room]:
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_every_room_is_in_the_table() -> None:
    rooms = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert rooms - {"cli"} <= set(ALLOWED)


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_profile_defect_names_are_the_detectors() -> None:
    from nnport.check.defects.registry import DEFECTS
    from nnport.targets.profile import DEFECT_NAMES

    assert set(DEFECT_NAMES) == set(DEFECTS)
