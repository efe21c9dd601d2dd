"""A sweep's summary: the model × target matrix as a terminal table and a self-contained HTML
page (no scripts, no external assets), each cell coloured by verdict and linking to its result."""

from __future__ import annotations

import datetime
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from nnport import __version__

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#222}
h1{font-size:1.4rem}table{border-collapse:collapse;margin:.5rem 0}
td,th{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f5f5f5}a{display:inline-block;margin:.1rem;padding:.1rem .4rem;border-radius:3px;
text-decoration:none;color:#fff}.pass{background:#15803d}.fail{background:#b45309}
.error{background:#b91c1c}.dim{color:#777}
"""
_ICON = {"pass": "pass", "fail": "FAIL", "error": "ERROR"}


def _matrix(
    rows: Sequence[dict[str, Any]],
) -> tuple[list[str], list[str], dict[tuple[str, str], list[dict[str, Any]]]]:
    models = sorted({r["model"] for r in rows})
    targets = sorted({r["target"] for r in rows})
    grid: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in sorted(rows, key=lambda r: (r["verb"], r["precision"])):
        grid.setdefault((r["model"], r["target"]), []).append(r)
    return models, targets, grid


def cell_link(row: dict[str, Any]) -> str:
    """Where a row's details live, relative to the sweep's folder."""
    folder = Path("cells") / row["key"]
    return str(
        folder / ("report.html" if row["verb"] == "port" and "result" in row else "result.json")
    )


def render_sweep_html(rows: Sequence[dict[str, Any]], title: str) -> str:
    """The summary page: one row per model, one column per target, a badge per verb and format."""
    models, targets, grid = _matrix(rows)
    head = "".join(f"<th>{html.escape(t)}</th>" for t in targets)
    body = []
    for model in models:
        cells = []
        for target in targets:
            badges = []
            for r in grid.get((model, target), []):
                label = f"{r['verb']} {r['precision']}: {_ICON.get(r['verdict'], r['verdict'])}"
                tip = html.escape(r.get("detail") or r["verdict"], quote=True)
                href = html.escape(cell_link(r), quote=True) if "result" in r else ""
                link = f" href='{href}'" if href else ""
                badges.append(
                    f"<a class='{r['verdict']}'{link} title='{tip}'>{html.escape(label)}</a>"
                )
            cells.append("<td>" + ("".join(badges) or "<span class='dim'>–</span>") + "</td>")
        body.append(f"<tr><th>{html.escape(Path(model).name)}</th>{''.join(cells)}</tr>")
    counts = {v: sum(r["verdict"] == v for r in rows) for v in ("pass", "fail", "error")}
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>{len(rows)} cells: {counts['pass']} pass, {counts['fail']} fail, "
        f"{counts['error']} error. <span class='dim'>nnport {__version__}, {now}</span></p>"
        f"<table><tr><th>model</th>{head}</tr>{''.join(body)}</table></body></html>"
    )


def render_sweep_table(rows: Sequence[dict[str, Any]]) -> Table:
    """The same matrix for the terminal."""
    models, targets, grid = _matrix(rows)
    table = Table(title="sweep", show_lines=False)
    table.add_column("model")
    for target in targets:
        table.add_column(target)
    style = {"pass": "green", "fail": "yellow", "error": "red"}
    for model in models:
        line = [Path(model).name]
        for target in targets:
            parts = [
                f"[{style.get(r['verdict'], 'white')}]{r['verb']} {r['precision']} "
                f"{_ICON.get(r['verdict'], r['verdict'])}[/]"
                for r in grid.get((model, target), [])
            ]
            line.append("\n".join(parts) or "–")
        table.add_row(*line)
    return table
