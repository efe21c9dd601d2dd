"""Render a detection evaluation: mAP per backend and precision, agreement, changed images."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from nnport.verify.detect_eval import DetectEvalResult


def render_detect_eval(result: DetectEvalResult, *, show: int = 10) -> Group:
    """A table of runs (mAP@0.5, mAP@0.5:0.95, boxes, agreement, speed) and changed images."""
    table = Table(
        title=f"evaluate {result.model} on {result.data} ({result.count} images, "
        f"{result.labels} labels)",
        title_justify="left",
        show_edge=False,
    )
    for name in ("backend", "precision", "mAP@0.5", "mAP@.5:.95", "boxes", "= source", "images/s"):
        table.add_column(name, justify="left" if name in ("backend", "precision") else "right")
    if result.source_map50 is not None:
        table.add_row(
            f"torch (source {result.source})", "fp32", f"{100 * result.source_map50:.2f}",
            f"{100 * (result.source_map50_95 or 0):.2f}", "", "-", "",
        )  # fmt: skip
    for run in result.backends:
        agree = (
            "-" if run.agreement_with_source is None else f"{100 * run.agreement_with_source:.1f}%"
        )
        table.add_row(
            run.backend, f"{run.precision} ({run.mode})", f"{100 * run.map50:.2f}",
            f"{100 * run.map50_95:.2f}", str(run.boxes), agree, f"{run.images_per_second:.1f}",
        )  # fmt: skip
    parts: list[Text | Table] = [Text(f"preprocessing: {result.preprocess}"), table]
    if result.changed_count:
        listed = ", ".join(p.rsplit("/", 1)[-1] for p in result.changed_images[:show])
        more = f" (+{result.changed_count - show} more)" if result.changed_count > show else ""
        parts.append(
            Text(
                f"{result.changed_count} image(s) whose boxes change: {listed}{more}",
                style="yellow",
            )
        )
    else:
        parts.append(Text("every run finds the same boxes on every image", style="green"))
    return Group(*parts)
