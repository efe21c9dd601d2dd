"""The ``nnport`` command line: one Typer app, one thin module per verb, errors mapped to exit codes."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence

import typer
from rich.markup import escape

from nnport import __version__
from nnport.cli import (
    cmd_bench,
    cmd_check,
    cmd_compare,
    cmd_convert,
    cmd_data,
    cmd_data_mnist,
    cmd_diagnose,
    cmd_evaluate,
    cmd_export,
    cmd_fix,
    cmd_inspect,
    cmd_port,
    cmd_sweep,
    cmd_targets,
    cmd_train,
)
from nnport.cli.common import configure_logging, err_console
from nnport.cli.help import use_plain_help
from nnport.cli.signals import interruptible
from nnport.errors import NnportError

EXIT_OK, EXIT_NEGATIVE, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

app = typer.Typer(
    name="nnport",
    help=(
        "Take a trained model to a verified deployment: can it run on the target, which node "
        "breaks which rule, rewrite it until it can (verifying each rewrite), convert it, "
        "compare it tensor by tensor, and measure its speed.\n\n"
        "Exit codes: 0 success, 1 negative verdict (not deployable, mismatch), "
        "2 bad input or usage, 3 internal error."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

# The order here is the order of `nnport --help`; each module adds its own verbs.
for _module in (
    cmd_port,
    cmd_inspect,
    cmd_check,
    cmd_targets,
    cmd_fix,
    cmd_convert,
    cmd_compare,
    cmd_bench,
    cmd_train,
    cmd_export,
    cmd_evaluate,
    cmd_data,
    cmd_data_mnist,  # adds `data mnist` to cmd_data's group
    cmd_diagnose,
    cmd_sweep,
):
    _module.register(app)
use_plain_help(app)  # plain --help for every verb: re-wrapped, nothing cut at 80 columns


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nnport {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show progress logs."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    configure_logging(debug=debug, verbose=verbose)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return (or exit with) its exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    with interruptible() as outcome:  # SIGTERM as SIGINT; never exit 0 once told to stop
        try:
            code = run(args, debug=debug)
        except KeyboardInterrupt:  # arrived outside run's own handling (--debug re-raises)
            code = 130
        code = outcome(code)
    if argv is None:
        sys.exit(code)
    return code


def run(args: list[str], *, debug: bool = False) -> int:
    """Invoke the app with ``args`` and map every outcome to an exit code."""
    _tolerate_undecodable_names()
    try:
        app(args=args, prog_name="nnport")  # standalone: usage errors exit 2 on their own
    except SystemExit as exc:
        if exc.code is None:
            return EXIT_OK
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except NnportError as exc:
        if debug:
            raise
        err_console.print(
            f"[bold red]error:[/] {escape(exc.one_line())}", highlight=False, soft_wrap=True
        )
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("nnport: interrupted")
        return 130
    except MemoryError as exc:
        if debug:
            raise
        # A valid model whose tensors (at these input shapes) outgrow this machine: the user
        # can act on it (smaller shapes, a bigger machine), so it is exit 2, not a bug.
        detail = " ".join(str(exc).split())[:300] or "an allocation failed"
        err_console.print(
            f"[bold red]error:[/] out of memory: {escape(detail)} "
            "(the model's tensors do not fit in this machine's memory at these input shapes)",
            highlight=False,
            soft_wrap=True,
        )
        return EXIT_USAGE
    except OSError as exc:
        if debug or exc.filename is None:  # no file named: not the user's to fix, see below
            return _internal(exc, debug)
        # The system refused a file nnport was told to read or write (full disk, permissions,
        # a folder where a file belongs): the user can act on it, so it is bad input, exit 2.
        names = " -> ".join(
            os.fsdecode(f) if isinstance(f, str | bytes) else str(f)
            for f in (exc.filename, exc.filename2)
            if f is not None
        )
        reason = exc.strerror or type(exc).__name__
        err_console.print(
            f"[bold red]error:[/] {escape(f'cannot use {names}: {reason}')}",
            highlight=False,
            soft_wrap=True,
        )
        return EXIT_USAGE
    except Exception as exc:
        return _internal(exc, debug)
    return EXIT_OK


def _internal(exc: Exception, debug: bool) -> int:
    """An unexpected exception: re-raised under --debug, else one line and exit 3."""
    if debug:
        raise exc
    name = type(exc).__name__
    message = " ".join(str(exc).split())[:300]
    err_console.print(
        f"[bold red]internal error:[/] {name}: {escape(message)} (rerun with --debug for a traceback)",
        highlight=False,
        soft_wrap=True,
    )
    return EXIT_INTERNAL


def _tolerate_undecodable_names() -> None:
    """A file name that is not UTF-8 reaches Python as lone surrogates; print those escaped
    (``\\udcff``) instead of failing on them."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(Exception):
                reconfigure(errors="backslashreplace")


if __name__ == "__main__":
    main()
