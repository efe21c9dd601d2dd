"""``nnport sweep``: many models × targets × precisions × verbs on Ray, resumable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from nnport.cli.common import JSON_OPT, console, emit_json, err_console


def _memory(text: str | None) -> int | None:
    from nnport.errors import UsageError

    if text is None:
        return None
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    value = text.strip().lower().removesuffix("b")
    scale = units.get(value[-1:], 1)
    try:
        number = float(value[:-1] if value[-1:] in units else value)
    except ValueError:
        number = -1.0
    if number <= 0:
        raise UsageError(f"--memory-per-cell {text!r} is not a size", hint="for example 2G or 512M")
    return int(number * scale)


def _write_pages(out: Path, plan: str) -> Path:
    """summary.html over every row so far, and each port cell's own report.html."""
    from nnport.model.io import atomic_path
    from nnport.pipeline import PortResult
    from nnport.report.html import render_html
    from nnport.report.sweep import cell_link, render_sweep_html
    from nnport.results import loads
    from nnport.sweep.results import read_rows

    rows = read_rows(out)
    for row in rows:
        if row["verb"] == "port" and "result" in row:
            page = out / cell_link(row)
            page.parent.mkdir(parents=True, exist_ok=True)
            result = loads(PortResult, json.dumps(row["result"]))
            with atomic_path(page) as tmp:
                tmp.write_text(render_html(result), encoding="utf-8")
    summary = out / "summary.html"
    with atomic_path(summary) as tmp:
        tmp.write_text(
            render_sweep_html(rows, f"nnport sweep: {Path(plan).name}"), encoding="utf-8"
        )
    return summary


def sweep_cmd(
    plan: Path = typer.Argument(
        ..., metavar="PLAN", help="The plan file (TOML).", show_default=False
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Results folder (created; reused to resume).", show_default=False
    ),
    address: str | None = typer.Option(
        None,
        "--address",
        help="Join this Ray cluster (or set RAY_ADDRESS); default: a local instance.",
        show_default=False,
    ),
    cpus: int | None = typer.Option(
        None, "--cpus", min=1, help="CPUs of the local instance (default: all).", show_default=False
    ),
    memory_per_cell: str | None = typer.Option(
        None, "--memory-per-cell", help="Memory Ray reserves per cell, e.g. 2G.", show_default=False
    ),
    timeout: float = typer.Option(
        1800.0, "--timeout", min=1, help="Seconds a cell may run before it is recorded failed."
    ),
    ship: str = typer.Option(
        "auto",
        "--ship",
        help="How models reach workers: path (shared storage), object-store, auto.",
    ),
    json_out: bool = JSON_OPT,
) -> None:
    """Run every cell of PLAN (models × targets × precisions × verbs), one Ray task each.

    Rows go to OUT/results.jsonl as cells finish; a rerun skips finished cells. Writes
    OUT/summary.html (the model × target matrix). Exit 1 when any cell failed or said no."""
    from nnport.report.sweep import render_sweep_table
    from nnport.sweep.engine import SweepOptions, run_sweep
    from nnport.sweep.plan import load_plan

    loaded = load_plan(plan)  # every entry is checked before anything runs
    options = SweepOptions(address=address, cpus=cpus, memory_per_cell=_memory(memory_per_cell),
                           timeout=timeout, ship=ship)  # fmt: skip
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=True, disable=json_out) as bar:
        task = bar.add_task("sweep", total=None)

        def progress(done: int, total: int, row: dict[str, Any]) -> None:
            label = f"{Path(row['model']).name} {row['target']} {row['verb']}: {row['verdict']}"
            bar.update(task, completed=done, total=total, description=label)

        try:
            result = run_sweep(loaded, out, options, progress=progress)
        finally:
            summary = _write_pages(Path(out), loaded.path)
    if json_out:
        emit_json(result)
    else:
        from nnport.sweep.results import read_rows

        console.print(render_sweep_table(read_rows(out)))
        console.print(
            f"{result.cells} cells ({result.already_done} done before, {result.left_out} "
            f"not applicable): ran {result.ran}, {result.failed} failed, {result.passed} pass, "
            f"in {result.seconds:.1f} s"
        )
        console.print(f"results: {Path(out) / 'results.jsonl'}, summary: {summary}")
    from nnport.sweep.results import read_rows

    if any(r["verdict"] != "pass" for r in read_rows(out)):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``sweep`` verb."""
    app.command("sweep")(sweep_cmd)
