"""Render dataset downloads (``MnistDownload``) for the terminal."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text

from nnport.data.mnist_download import MnistDownload


def render_mnist_download(result: MnistDownload) -> Group:
    """Each file with its verified SHA-256 and where it came from, then the folder to use."""
    lines = [Text("MNIST, verified:", style="bold")]
    for f in result.files:
        lines.append(Text(f"{f.name}  {f.size:,} bytes  from {f.source}"))
        lines.append(Text(f"  sha256 of the data {f.sha256}", style="dim"))
    count = result.downloaded
    head = f"{count} file(s) downloaded, " if count else "nothing to download, "
    lines += [
        Text(f"{head}all 4 verified in {result.folder}"),
        Text(f"use it: nnport train mnist --data {result.folder} -o mnist.pt", style="dim"),
    ]
    return Group(*lines)
