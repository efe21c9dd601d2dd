"""``nnport data mnist``: download the four original MNIST files and verify them by SHA-256."""

from __future__ import annotations

from pathlib import Path

import typer

from nnport.cli.common import JSON_OPT, console, emit_json

OUTPUT_OPT = typer.Option(
    ..., "--output", "-o", help="Folder for the four .gz files (created; files that already "
    "verify are kept).", show_default=False,
)  # fmt: skip
MIRROR_OPT = typer.Option(
    None,
    "--mirror",
    metavar="URL",
    help="A folder URL holding the four NAME.gz files (https://, http:// or file://); repeat "
    "to try several in order (default: the S3 and Google Cloud mirrors).",
    show_default=False,
)


def data_mnist_cmd(
    output: Path = OUTPUT_OPT,
    mirror: list[str] | None = MIRROR_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Download MNIST (LeCun, Cortes and Burges: 60,000 training and 10,000 test digits, the
    four IDX files) into a folder and verify each file's data by SHA-256.

    Files already in the folder that verify are kept, so this also checks a copy made by hand.
    Without a network it fails with exit 2, naming each mirror's error. Use the folder with
    `nnport train mnist --data DIR`, `nnport evaluate --dataset mnist --data DIR`, and for
    the test suite NNPORT_MNIST_DIR=DIR.
    """
    from nnport.data.mnist_download import MIRRORS, download_mnist
    from nnport.report.data import render_mnist_download

    result = download_mnist(output, mirrors=tuple(mirror) if mirror else MIRRORS)
    if json_out:
        emit_json(result)
    else:
        console.print(render_mnist_download(result))


def register(app: typer.Typer) -> None:
    """Add ``mnist`` to the ``data`` verb group (registered by cmd_data before this)."""
    from nnport.cli.cmd_data import data_app

    data_app.command("mnist")(data_mnist_cmd)
