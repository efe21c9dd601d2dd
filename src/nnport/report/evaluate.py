"""Render a dataset evaluation (``EvaluateResult``): accuracy per backend, agreement, disagreements."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from nnport.verify.evaluate import EvaluateResult


def render_evaluate(result: EvaluateResult, *, show: int = 20) -> Group:
    """A table of backends (accuracy, agreement with the source, speed) and the disagreements."""
    table = Table(
        title=f"evaluate {result.model} on {result.dataset} ({result.count} images)",
        title_justify="left",
        show_edge=False,
    )
    table.add_column("backend")
    table.add_column("precision")
    table.add_column("top-1", justify="right")
    table.add_column("correct", justify="right")
    table.add_column("= source", justify="right")
    table.add_column("= fp32", justify="right")
    table.add_column("time", justify="right")
    table.add_column("images/s", justify="right")
    table.add_column("runtime")
    if result.source_accuracy is not None:
        correct = round(result.source_accuracy * result.count)
        table.add_row(
            "torch (source)",
            "fp32",
            f"{100 * result.source_accuracy:.2f}%",
            f"{correct}/{result.count}",
            "-",
            "-",
            "",
            "",
            "",
        )
    for b in result.backends:
        agree = "-" if b.agreement_with_source is None else f"{100 * b.agreement_with_source:.2f}%"
        runtime = b.config.get("runtime", "")
        config = " ".join(runtime.split()[:1] + [v.split("-")[0] for v in runtime.split()[1:2]])
        same = "-" if b.agreement_with_fp32 is None else f"{100 * b.agreement_with_fp32:.2f}%"
        table.add_row(
            b.backend,
            f"{b.precision}\n{b.precision_mode}",
            f"{100 * b.accuracy:.2f}%",
            f"{b.correct}/{b.count}",
            agree,
            same,
            f"{b.seconds:.2f} s",
            f"{b.images_per_second:.0f}",
            config,
        )
    changes: list[Text] = []
    if result.all_agree:
        verdict = Text("all predictions agree on every image", style="green")
    else:
        listed = ", ".join(str(i) for i in result.disagreements[:show])
        more = result.disagreement_count - min(show, len(result.disagreements))
        verdict = Text(
            f"predictions differ on {result.disagreement_count} image(s): {listed}"
            + (f" ... ({more} more; --json lists up to 1000)" if more > 0 else ""),
            style="yellow",
        )
    for b in result.backends:
        if b.changed_vs_fp32:
            listed = ", ".join(str(i) for i in b.changed_images[:show])
            more = b.changed_vs_fp32 - min(show, len(b.changed_images))
            parts_text = f"{b.backend} {b.precision_label}: {b.changed_vs_fp32} image(s) change "
            parts_text += f"class vs fp32: {listed}" + (f" ... ({more} more)" if more > 0 else "")
            changes.append(Text(parts_text, style="yellow"))
    norm = Text(f"normalization: (x/255 - {list(result.mean)}) / {list(result.std)}", style="dim")
    parts: list[RenderableType] = [table, Text(""), verdict, *changes, norm]
    if result.source:
        parts.append(Text(f"source: {result.source}", style="dim"))
    return Group(*parts)
