"""Render a detector diagnosis: a terminal table of checks, and a self-contained HTML page with
the images and their boxes drawn (inline PNGs, no scripts, no external assets)."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from nnport import __version__
from nnport.verify.diagnose import FAIL, PASS, DiagnoseResult, ImageDetections

_STYLE = {PASS: "green", "warn": "yellow", FAIL: "bold red"}
_PALETTE = ((230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180))
_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .5rem;
text-align:left;vertical-align:top}th{background:#f5f5f5}.pass{color:#15803d}.fail{color:#b91c1c}
.warn{color:#a16207}figure{display:inline-block;margin:.5rem}figcaption{font-size:12px;color:#555}
img{image-rendering:pixelated;border:1px solid #ccc}
"""


def render_diagnose(result: DiagnoseResult) -> RenderableType:
    """One row per check (status coloured) and a verdict line."""
    table = Table(
        title=f"diagnose {result.model} on {result.backend}", title_justify="left", show_edge=False
    )
    table.add_column("check")
    table.add_column("status")
    table.add_column("reason", overflow="fold")
    for check in result.checks:
        table.add_row(
            check.name, Text(check.status, style=_STYLE.get(check.status, "")), check.reason
        )
    lines: list[RenderableType] = [
        Text(f"pipeline: {result.preprocess}, score threshold {result.score_threshold:g}"),
    ]
    if result.model_preprocess and result.model_preprocess != result.preprocess:
        lines.append(Text(f"model exported with: {result.model_preprocess}", style="yellow"))
    lines.append(table)
    if result.parting_stage:
        lines.append(
            Text(f"the pipeline parts from the source at: {result.parting_stage}", style="red")
        )
    failed = [c.name for c in result.checks if c.status == FAIL]
    lines.append(
        Text(f"FAIL: {', '.join(failed)}", style="bold red")
        if failed
        else Text("every check passed", style="green")
    )
    return Group(*lines)


def annotated_png(image: ImageDetections, *, scale: int = 2) -> bytes:
    """The image with the pipeline's boxes (solid) and the source's (thin white), as PNG bytes."""
    from PIL import Image, ImageDraw

    with Image.open(image.path) as src:
        picture = src.convert("RGB")
    if scale != 1:
        picture = picture.resize(
            (picture.width * scale, picture.height * scale), Image.Resampling.NEAREST
        )
    draw = ImageDraw.Draw(picture)
    for x1, y1, x2, y2, _score, _cls in image.source_boxes:
        draw.rectangle(
            [x1 * scale, y1 * scale, x2 * scale, y2 * scale], outline=(255, 255, 255), width=1
        )
    for x1, y1, x2, y2, score, cls in image.boxes:
        colour = _PALETTE[cls % len(_PALETTE)]
        draw.rectangle([x1 * scale, y1 * scale, x2 * scale, y2 * scale], outline=colour, width=2)
        draw.text((x1 * scale + 2, y1 * scale + 1), f"{cls}:{score:.2f}", fill=colour)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def _figure(image: ImageDetections) -> str:
    data = base64.b64encode(annotated_png(image)).decode("ascii")
    caption = f"{html.escape(image.path.rsplit('/', 1)[-1])}: {len(image.boxes)} box(es)"
    if image.source_boxes:
        caption += f", source {len(image.source_boxes)}"
    return (
        f"<figure><img alt='{html.escape(image.path)}' src='data:image/png;base64,{data}'>"
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _rows(result: DiagnoseResult) -> Sequence[str]:
    return [
        f"<tr><td>{html.escape(c.name)}</td><td class='{c.status}'>{c.status}</td>"
        f"<td>{html.escape(c.reason)}</td></tr>"
        for c in result.checks
    ]


def render_diagnose_html(result: DiagnoseResult) -> str:
    """The whole page: pipeline, checks, and every image with its detections drawn."""
    verdict = (
        "every check passed"
        if result.passed
        else "FAIL: " + ", ".join(c.name for c in result.checks if c.status == FAIL)
    )
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>nnport diagnose {html.escape(result.model)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Why no boxes? {html.escape(result.model)}</h1>",
        f"<p class='{'pass' if result.passed else 'fail'}'><b>{html.escape(verdict)}</b></p>",
        f"<p>backend <code>{html.escape(result.backend)}</code>, pipeline "
        f"<code>{html.escape(result.preprocess)}</code>, score threshold {result.score_threshold:g}"
        + (
            f"; the model was exported with <code>{html.escape(result.model_preprocess)}</code>"
            if result.model_preprocess
            else ""
        )
        + "</p>",
        "<h2>Checks</h2><table><tr><th>check</th><th>status</th><th>reason</th></tr>",
        *_rows(result),
        "</table>",
    ]
    if result.parting_stage:
        parts.append(
            f"<p class='fail'>The pipeline parts from the source at: {html.escape(result.parting_stage)}</p>"
        )
    parts.append("<h2>Images (the pipeline's boxes; the source's in white)</h2><div>")
    parts.extend(_figure(image) for image in result.images)
    parts.append(f"</div><p style='color:#777'>nnport {html.escape(__version__)}</p></body></html>")
    return "\n".join(parts)
