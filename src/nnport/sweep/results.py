"""``results.jsonl``: one row per finished cell, appended as each finishes; which cells are done."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

RESULTS = "results.jsonl"


def read_rows(out_dir: str | Path) -> list[dict[str, Any]]:
    """Every complete row of the results file (a line cut short by a kill is skipped)."""
    path = Path(out_dir) / RESULTS
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict) and "key" in value:
            rows.append(value)
    return rows


def finished_keys(rows: Iterable[dict[str, Any]]) -> set[str]:
    """Cells that gave their answer (``failed`` ones run again)."""
    return {r["key"] for r in rows if r.get("status") == "done"}


def keep_only(out_dir: str | Path, rows: list[dict[str, Any]]) -> None:
    """Rewrite the results file with ``rows`` (atomically): a rerun drops the failed rows it
    is about to redo, so no cell has two rows."""
    path = Path(out_dir) / RESULTS
    tmp = path.with_name(f".{RESULTS}.{os.getpid()}.tmp")
    tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows), encoding="utf-8")
    os.replace(tmp, path)


class ResultsFile:
    """Append-only writer: each row is flushed and synced before the next cell is recorded, so
    an interrupted sweep loses no finished cell."""

    def __init__(self, out_dir: str | Path) -> None:
        self._fh = (Path(out_dir) / RESULTS).open("a", encoding="utf-8")

    def append(self, row: dict[str, Any]) -> None:
        """Write one row and sync it to disk."""
        self._fh.write(json.dumps(row, sort_keys=True) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        """Close the file."""
        self._fh.close()
