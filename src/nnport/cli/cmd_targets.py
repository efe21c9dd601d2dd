"""``nnport targets``: list the target profiles, show one, or probe a runtime to derive one."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any

import typer

from nnport.cli.common import JSON_OPT, console, emit_json, err_console
from nnport.errors import BackendUnavailableError, UsageError

targets_app = typer.Typer(
    name="targets",
    help="List target profiles (`nnport targets`), show one (`targets show NAME`), or derive one "
    "from a runtime (`targets probe`).",
    invoke_without_command=True,
    no_args_is_help=False,
)


@targets_app.callback()
def targets_cmd(ctx: typer.Context, json_out: bool = JSON_OPT) -> None:
    """List the shipped target profiles: name, opset range, op count, date, source."""
    from nnport.report.targets import render_targets
    from nnport.targets import list_targets

    if ctx.invoked_subcommand is not None:
        return
    infos = list_targets()
    if json_out:
        emit_json(infos)
    else:
        console.print(render_targets(infos))


SHOW_OP_OPT = typer.Option(None, "--op", help="Show only these operators (repeatable).")


@targets_app.command("show")
def show_cmd(
    name: str = typer.Argument(..., help="A shipped target name or a profile .toml path."),
    op: list[str] | None = SHOW_OP_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Print one profile: source, opsets, graph-wide rules and every op with its limits."""
    from nnport.report.targets import render_profile
    from nnport.targets import load_target, profile_to_dict

    profile = load_target(name)
    if op:
        wanted = {o.lower() for o in op}
        rules = tuple(r for r in profile.ops if r.op.lower() in wanted)
        if not rules:
            raise UsageError(
                f"{profile.name} lists none of {', '.join(op)}",
                hint=f"it does not support {'it' if len(op) == 1 else 'them'}",
            )
        profile = dataclasses.replace(profile, ops=rules)
    if json_out:
        emit_json({**profile_to_dict(profile), "path": profile.path})
    else:
        console.print(render_profile(profile))


BACKEND_OPT = typer.Option(
    ..., "--backend", "-b", help="Runtime to probe: openvino, ncnn or onnxruntime."
)
OUTPUT_OPT = typer.Option(..., "--output", "-o", help="Where to write the derived profile.")
LIMIT_OPT = typer.Option(None, "--limit", help="Run only the first N node-suite cases.")
OP_OPT = typer.Option(None, "--op", help="Only cases testing this operator (repeatable).")
WORKERS_OPT = typer.Option(1, "--workers", help="Worker processes running cases.")
TIMEOUT_OPT = typer.Option(60.0, "--timeout", help="Seconds allowed per case.")


@targets_app.command("probe")
def probe_cmd(
    backend: str = BACKEND_OPT,
    out: Path = OUTPUT_OPT,
    limit: int | None = LIMIT_OPT,
    op: list[str] | None = OP_OPT,
    workers: int = WORKERS_OPT,
    timeout: float = TIMEOUT_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Run the ONNX backend node suite through a runtime and write the profile it supports."""
    try:
        probe = importlib.import_module("nnport.probe.engine")
    except ImportError as exc:
        raise BackendUnavailableError(f"the probe is not available: {exc}") from exc
    kwargs: dict[str, Any] = {"limit": limit, "ops": op or None, "workers": workers}
    kwargs["timeout"] = timeout
    result = probe.probe_backend(backend, out, **kwargs)
    if json_out:
        emit_json(result)
        return
    own = result.at_own_opset()
    suite = [o for o in own if not o.case.startswith(probe.PREFIX)]
    extra = [o for o in own if o.case.startswith(probe.PREFIX)]
    line = (
        f"{backend}: {sum(o.status == 'pass' for o in suite)} of {len(suite)} node-suite cases "
        "pass at their own opset"
    )
    if extra:
        passed = sum(o.status == "pass" for o in extra)
        line += f"; nnport's exporter cases: {passed} of {len(extra)}"
    console.print(line)
    err_console.print(f"wrote {getattr(result, 'profile', out)}")


def register(app: typer.Typer) -> None:
    """Add the ``targets`` verb group."""
    app.add_typer(targets_app, name="targets")
