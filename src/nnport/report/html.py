"""A self-contained HTML page for a ``port`` run (no scripts, no external assets)."""

from __future__ import annotations

import datetime
import html
from collections.abc import Iterable, Sequence

from nnport import __version__
from nnport.pipeline import PortResult
from nnport.verify.metrics import percent

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .5rem;
text-align:left;vertical-align:top}th{background:#f5f5f5}.ok{color:#15803d}.bad{color:#b91c1c}
.dim{color:#777}code,pre{background:#f5f5f5;padding:.1rem .3rem;white-space:pre-wrap}
"""


class Verdict:
    """A yes/no cell shown as words ("kept" / "rolled back"), coloured, never Python's True."""

    def __init__(self, value: bool, yes: str, no: str) -> None:
        self.value, self.text = value, yes if value else no

    def html(self) -> str:
        return f"<span class='{'ok' if self.value else 'bad'}'>{html.escape(self.text)}</span>"


def _cell(value: object) -> str:
    if isinstance(value, Verdict):
        return value.html()
    if isinstance(value, bool):  # a bare bool would read "True"; every column names its words
        return "yes" if value else "no"
    return html.escape(str(value))


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _violations(result: PortResult, after: bool) -> str:
    report = result.check_after if after else result.check_before
    if not report.violations:
        return '<p class="ok">no violations</p>'
    rows = [(v.where, v.op, v.rule, v.message, v.fix or "-") for v in report.violations]
    return _table(("node", "op", "rule", "message", "fix"), rows)


def _split_html(result: PortResult) -> list[str]:
    """What runs on the host when fix split the post-processing off (nothing otherwise)."""
    split = result.fix.split
    if split is None:
        return []
    pre = (
        [
            "<p><b>pre-processing runs on the host</b>: "
            f"<code>{html.escape(result.pre_output or split.pre_output)}</code> "
            f"({split.pre_nodes} nodes before the first Conv/MatMul); its outputs "
            f"<code>{html.escape(', '.join(split.pre_cut))}</code> are the device part's "
            "inputs.</p>"
        ]
        if split.pre_nodes
        else []
    )
    if not split.host_nodes:
        return [*pre, f"<p>{html.escape(split.verification)}.</p>"]
    mac = "unknown" if split.host_mac_share < 0 else f"{100 * split.host_mac_share:.1f}%"
    return [
        *pre,
        "<p><b>post-processing runs on the host</b>: "
        f"<code>{html.escape(result.host_output or split.host_output)}</code> "
        f"({split.host_nodes} nodes, {100 * split.host_node_share:.1f}% of the nodes, {mac} of "
        f"the Conv/MatMul/Gemm MACs). {html.escape(split.reason)}. The fixed model is the "
        f"device part; its outputs feed the host part: "
        f"<code>{html.escape(', '.join(split.cut))}</code>. "
        f"{html.escape(split.verification)}.</p>",
    ]


def _precision_html(result: PortResult) -> list[str]:
    """The format the fixed model was verified in, native or emulated, and its fp32 keep-set."""
    report = result.fix.precision
    if report is None:
        return []
    kept = (
        f"; kept in fp32 ({html.escape(report.keep_file or 'reported only')}): "
        f"<code>{html.escape(', '.join(report.kept))}</code>"
        if report.kept
        else ""
    )
    if report.error != report.error:  # not verified (int8 without data, no emulation)
        return [
            f"<p>precision: <b>{html.escape(report.label)}</b> ({html.escape(report.chosen)}): "
            f"{html.escape(report.reason)}</p>"
        ]
    return [
        f"<p>precision: <b>{html.escape(report.label)}</b> ({html.escape(report.chosen)}), "
        f"{Verdict(report.passed or not report.broke, 'verified', 'breaks').html()}, max error "
        f"{report.error:.3g}, SQNR {report.sqnr_db:.1f} dB (floor {report.min_sqnr_db:g})"
        f"{kept}{'; ' + html.escape(report.reason) if report.broke and not report.passed else ''}"
        "</p>"
    ]


def render_html(result: PortResult, *, generated: datetime.datetime | None = None) -> str:
    """The report page as a string, stamped with nnport's version and ``generated`` (default:
    now, UTC)."""
    when = (generated or datetime.datetime.now(datetime.UTC)).strftime("%Y-%m-%d %H:%M:%S %Z")
    verdict_class = "ok" if result.ok else "bad"
    verdict = "READY" if result.ok else "NOT READY"
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>nnport: "
        f"{html.escape(result.model)} on {html.escape(result.target)}</title>"
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(result.model)} &rarr; {html.escape(result.target)}: "
        f"<span class='{verdict_class}'>{verdict}</span></h1>",
        f"<p class='dim'>nnport {html.escape(__version__)}, {html.escape(when.strip())}</p>",
        f"<p>fixed model: <code>{html.escape(result.output)}</code></p>",
        *_precision_html(result),
        *_split_html(result),
        *(
            [
                "<p><b>the fixed model's interface changed</b> (callers must follow):</p><ul>",
                *(f"<li><code>{html.escape(line)}</code></li>" for line in result.interface),
                "</ul>",
            ]
            if result.interface
            else []
        ),
        "<h2>stages</h2>",
        _table(
            ("stage", "result", "seconds", "detail"),
            ((s.name, s.status, f"{s.seconds:.3f}", s.detail) for s in result.stages),
        ),
        "<h2>violations before fixing</h2>",
        _violations(result, after=False),
        "<h2>rewrites (each verified)</h2>",
        _table(
            ("round", "fix", "nodes", "max error", "kept", "reason"),
            (
                (
                    p.round,
                    p.fix,
                    p.nodes_rewritten,
                    f"{p.max_error:.3g}",
                    Verdict(p.kept, "kept", "rolled back"),
                    p.reason,
                )
                for p in result.fix.passes
            ),
        ),
        "<h2>violations after fixing</h2>",
        _violations(result, after=True),
    ]
    for comparison in result.compares:
        config = ", ".join(f"{k}={v}" for k, v in comparison.candidate.config.items())
        parts += [
            f"<h2>compare: {html.escape(comparison.candidate.backend)} (fixed) vs "
            f"{html.escape(comparison.reference.backend)} (original), "
            f"{html.escape(comparison.precision_label)}</h2>",
            f"<p class='dim'>{html.escape(config)}; inputs: {html.escape(comparison.inputs)}; "
            f"tolerance |cand-ref| &le; {comparison.atol:g} + {comparison.rtol:g}&middot;|ref|</p>",
            _table(
                (
                    "output",
                    "max abs",
                    "max rel",
                    "mean abs",
                    "cosine",
                    "SNR dB",
                    "out of tol",
                    "pass",
                ),
                (
                    (
                        m.name,
                        f"{m.max_abs_err:.3g}",
                        f"{m.max_rel_err:.3g}",
                        f"{m.mean_abs_err:.3g}",
                        f"{m.cosine:.6f}",
                        f"{m.snr_db:.1f}",
                        percent(m.out_of_tolerance),
                        Verdict(m.passed, "pass", "FAIL"),
                    )
                    for m in comparison.outputs
                ),
            ),
        ]
    if result.bench is not None:
        parts += [
            "<h2>speed</h2>",
            _table(
                ("backend", "mean ms", "p50 ms", "p90 ms", "p99 ms", "throughput/s", "error"),
                (
                    (
                        t.backend,
                        f"{t.mean_ms:.3f}",
                        f"{t.p50_ms:.3f}",
                        f"{t.p90_ms:.3f}",
                        f"{t.p99_ms:.3f}",
                        f"{t.throughput:.1f}",
                        t.error or "",
                    )
                    for t in result.bench.timings
                ),
            ),
        ]
    if result.atc_command:
        parts += ["<h2>convert with ATC</h2>", f"<pre>{html.escape(result.atc_command)}</pre>"]
    parts.append("</body></html>")
    return "\n".join(parts)
