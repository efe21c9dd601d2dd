"""Every verb's ``--help`` at 80 columns: nothing cut, no ``<bool>`` or ``{model}``, paragraphs
re-wrapped (no ragged lines left by the docstrings' hard line breaks)."""

from __future__ import annotations

import itertools
import re

import pytest
import typer

from nnport.cli.app import app

WIDTH = 80


def _verbs() -> list[tuple[tuple[str, ...], object]]:
    """(path, click command) for the root, every group and every verb under it."""
    found: list[tuple[tuple[str, ...], object]] = []

    def walk(path: tuple[str, ...], command: object) -> None:
        found.append((path, command))
        for name, sub in getattr(command, "commands", {}).items():
            walk((*path, name), sub)

    walk((), typer.main.get_command(app))
    return found


VERBS = _verbs()


def test_every_verb_is_listed() -> None:
    names = {" ".join(path) for path, _ in VERBS}
    assert {"", "port", "check", "fix", "convert", "compare", "bench", "train mnist"} <= names
    assert len(names) >= 15


def _description(text: str) -> list[list[str]]:
    """The paragraphs between the usage line and the first section, as lists of lines."""
    body = text.split("\n\n", 1)[1]
    body = re.split(r"\n(?:Arguments|Options|Commands):\n", body)[0]
    return [p.splitlines() for p in body.split("\n\n") if p.strip()]


@pytest.mark.parametrize(
    ("path", "command"), VERBS, ids=[" ".join(p) or "nnport" for p, _ in VERBS]
)
def test_help_at_80_columns(
    path: tuple[str, ...], command: object, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    result = cli(*path, "--help")
    text = result.out
    assert result.code == 0, result.err
    assert text.startswith(f"Usage: nnport {' '.join(path)}".rstrip() + " ")
    assert "…" not in text and "<bool>" not in text
    assert not re.search(r"\{[a-z_]+\}", text), text  # the usage line names MODEL, not {model}
    assert not re.search(r"<(str|path|int|float|list)", text), text
    assert all(len(line) <= WIDTH for line in text.splitlines()), text
    for param in getattr(command, "params", []):
        for name in [*param.opts, *param.secondary_opts]:
            if name.startswith("--"):  # each long option name appears whole
                assert re.search(rf"(^|[\s,/]){re.escape(name)}($|[\s,])", text, re.M), name
    # Re-wrapped: a description line ends only where the next word would not fit.
    for lines in _description(text):
        if lines[0].startswith("  ") and not lines[0].startswith("   "):
            for line, following in itertools.pairwise(lines):
                assert len(line) + 1 + len(following.split()[0]) > WIDTH - 2, (line, following)


def test_usage_names_the_model_argument(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    text = cli("fix", "--help").out
    assert text.splitlines()[0] == "Usage: nnport fix [OPTIONS] MODEL"
    assert "--split-postprocess / --no-split-postprocess" in text
    assert "-t, --target TEXT" in text


def test_no_arguments_prints_the_help(cli) -> None:
    result = cli()
    assert result.code == 2
    assert result.out.startswith("Usage: nnport [OPTIONS] COMMAND")
    assert "port " in result.out and "check " in result.out
