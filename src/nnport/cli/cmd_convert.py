"""``nnport convert``: not built yet (see the project's issues)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the ``convert`` verb (placeholder until it is built)."""
