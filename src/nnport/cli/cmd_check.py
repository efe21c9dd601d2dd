"""``nnport check``: not built yet (see the project's issues)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the ``check`` verb (placeholder until it is built)."""
