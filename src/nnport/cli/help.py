"""Plain ``--help`` that reads well at 80 columns: paragraphs re-wrapped, option names never cut,
metavars in capitals (no ``<bool>``), arguments named MODEL in the usage line."""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup

if TYPE_CHECKING:  # typer vendors click; its Context type is used for annotations only
    from typer._click import Context

# Type words typer writes as <str>, <path>, ... and the capitals the help shows instead.
_TYPE_WORDS = {"str": "TEXT", "path": "PATH", "int": "INTEGER", "float": "FLOAT", "bool": ""}
_NAME_COLUMN = 30  # option names longer than this put their help on the next line


class _Formatter(Protocol):
    """The part of click's HelpFormatter the help writer uses."""

    width: int

    def write(self, string: str) -> None: ...


def _metavar(match: re.Match[str]) -> str:
    word = match.group(1)
    inner = re.fullmatch(r"list\[(.+)\]", word)  # a repeatable option: its item type
    if inner:
        word = inner.group(1)
    word = word.removesuffix(" range")  # a bounded number: the bounds are in its help
    if "|" in word:  # choices
        return f"[{word}]"
    return _TYPE_WORDS.get(word, word.upper())


def _option_names(text: str) -> str:
    """``-t, --target <str>`` -> ``-t, --target TEXT``; a flag keeps its names only."""
    return re.sub(r"\s+$", "", re.sub(r"<([^<>]+)>", _metavar, text)).replace(" ,", ",")


def _wrap(text: str, width: int, indent: int) -> list[str]:
    """One paragraph wrapped to ``width``, every line indented by ``indent``, never breaking an
    option name at its hyphens (only a word longer than a whole line is split)."""
    lead = " " * indent
    return textwrap.wrap(
        " ".join(text.split()),
        width=max(width, indent + 20),
        initial_indent=lead,
        subsequent_indent=lead,
        break_on_hyphens=False,
        break_long_words=True,
    ) or [lead]


def paragraphs(help_text: str | None) -> list[str]:
    """The docstring's paragraphs, each re-flowed; ``\\b`` paragraphs keep their lines."""
    text = inspect.cleandoc(help_text or "").partition("\f")[0]
    return [p for p in re.split(r"\n\s*\n", text) if p.strip()]


def _write_text(help_text: str | None, formatter: _Formatter) -> None:
    for paragraph in paragraphs(help_text):
        if paragraph.startswith("\b"):
            lines = [f"  {line}" for line in paragraph.lstrip("\b\n").splitlines()]
        else:
            lines = _wrap(paragraph, formatter.width, 2)
        formatter.write("\n".join(lines) + "\n\n")


def _write_rows(title: str, rows: Iterable[tuple[str, str]], formatter: _Formatter) -> None:
    """A titled two-column list; help starts on its own line after a long name."""
    items = list(rows)
    if not items:
        return
    column = min(max(len(name) for name, _ in items), _NAME_COLUMN)
    out = [f"{title}:"]
    for name, text in items:
        if not text.strip():
            out.append(f"  {name}")
        elif len(name) <= column:
            lines = _wrap(text, formatter.width, column + 4)
            out.append(f"  {name:<{column}}  {lines[0].lstrip()}")
            out += lines[1:]
        else:
            out.append(f"  {name}")
            out += _wrap(text, formatter.width, column + 4)
    formatter.write("\n".join(out) + "\n\n")


def _first_sentence(help_text: str | None) -> str:
    first = " ".join((paragraphs(help_text) or [""])[0].split())
    match = re.match(r"(.+?\.)(\s|$)", first)
    return match.group(1) if match else first


def _usage(command: str, pieces: list[str], formatter: _Formatter) -> None:
    head = f"Usage: {command} "
    lines = _wrap(" ".join(pieces), formatter.width, len(head))
    formatter.write(head + lines[0].lstrip() + "\n" + "".join(f"{x}\n" for x in lines[1:]) + "\n")


def _arguments(params: Iterable[Any]) -> list[Any]:
    return [p for p in params if isinstance(p, TyperArgument) and not p.hidden]


def _argument_name(param: Any) -> str:
    return str(param.metavar or param.name or "ARG").upper()


def _usage_pieces(command: Any, ctx: Context) -> list[str]:
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in _arguments(command.get_params(ctx)):
        name = _argument_name(param)
        name = name if param.required else f"[{name}]"
        pieces.append(name + ("..." if param.nargs != 1 else ""))
    return pieces


def _option_rows(command: Any, ctx: Context) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    args, opts = [], []
    for param in command.get_params(ctx):
        if isinstance(param, TyperArgument):
            if not param.hidden:
                args.append((_argument_name(param), param.help or ""))
            continue
        record = param.get_help_record(ctx)
        if record is not None:
            opts.append((_option_names(record[0]), record[1]))
    return args, opts


class HelpCommand(TyperCommand):
    """A verb whose ``--help`` is plain text sized to the terminal (at most 80 columns)."""

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        return _usage_pieces(self, ctx)

    def format_help(self, ctx: Context, formatter: _Formatter) -> None:  # type: ignore[override]
        _usage(ctx.command_path, self.collect_usage_pieces(ctx), formatter)
        _write_text(self.help, formatter)
        args, opts = _option_rows(self, ctx)
        _write_rows("Arguments", args, formatter)
        _write_rows("Options", opts, formatter)
        _write_text(self.epilog, formatter)


class HelpGroup(TyperGroup):
    """A group of verbs (``nnport``, ``nnport train``) with the same plain help, and each verb
    listed with the first sentence of its help, unabridged."""

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        return [*_usage_pieces(self, ctx), self.subcommand_metavar]

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            # typer shows nothing for this error itself (its rich help printed as it rendered)
            typer.echo(ctx.get_help())
        return super().parse_args(ctx, args)

    def format_help(self, ctx: Context, formatter: _Formatter) -> None:  # type: ignore[override]
        _usage(ctx.command_path, self.collect_usage_pieces(ctx), formatter)
        _write_text(self.help, formatter)
        args, opts = _option_rows(self, ctx)
        _write_rows("Arguments", args, formatter)
        _write_rows("Options", opts, formatter)
        verbs = []
        for name in self.list_commands(ctx):
            sub = self.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                verbs.append((name, _first_sentence(sub.help)))
        _write_rows("Commands", verbs, formatter)
        _write_text(self.epilog, formatter)


def use_plain_help(app: typer.Typer) -> None:
    """Give ``app``, its verbs and its sub-apps (recursively) the plain help above."""
    app.info.cls = HelpGroup
    for command in app.registered_commands:
        if command.cls is None or not issubclass(command.cls, HelpCommand):
            command.cls = HelpCommand
    for group in app.registered_groups:
        if group.typer_instance is not None:
            use_plain_help(group.typer_instance)
