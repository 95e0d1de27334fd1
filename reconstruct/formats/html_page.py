"""One self-contained HTML page an auditor can open offline.

The verdict and the findings (most severe first) come first, then anchors, window
and credentials, then the timeline drawn as inline SVG (one lane per source,
credentials as bars, teardown as a line) and the full table. The page loads
nothing: no scripts, external styles, fonts or images, and a Content-Security-Policy
forbids them should hostile text ever slip through. Every value from the report
is HTML-escaped, because event fields are attacker-controlled.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar, Final

from reconstruct.formats._shared import (
    DISREGARDED_HEADINGS,
    TIMELINE_HEADINGS,
    citations,
    disregarded_cells,
    encode,
    esc,
    sorted_findings,
    verdict_label,
)
from reconstruct.formats.interface import Format
from reconstruct.formats.svg_timeline import timeline_svg
from reconstruct.model import Report

__all__ = ["CSP", "HtmlFormat"]

CSP: Final = "default-src 'none'; style-src 'unsafe-inline'"

_STYLE: Final = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em;color:#111;background:#fff}
h1,h2,h3{margin:1.2em 0 .4em}
table{border-collapse:collapse;margin:.4em 0 1em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
td{white-space:pre-wrap;word-break:break-word}
th{background:#f3f3f3}
.verdict{padding:.6em 1em;border-radius:4px;font-weight:bold;margin:.5em 0}
.verdict ul{font-weight:normal;margin:.3em 0 0}
.verdict.recreatable{background:#dcfce7;border:2px solid #15803d}
.verdict.not-recreatable{background:#fee2e2;border:2px solid #b91c1c}
tr.sev-critical td{background:#fecaca}
tr.sev-high td{background:#fed7aa}
tr.sev-medium td{background:#fef9c3}
tr.sev-low td{background:#f3f4f6}
td.severity{font-weight:bold;text-transform:uppercase}
tr.cited td{background:#fff1f2}
svg.timeline{display:block;max-width:100%;height:auto;border:1px solid #ddd}
svg .lane-bg{fill:#fafafa}
svg .lane-bg.odd{fill:#f0f0f0}
svg .label{font-size:12px;fill:#333}
svg .tick{stroke:#ccc}
svg .tick-label{font-size:11px;fill:#555}
svg .event{fill:#2563eb}
svg .event.cited{stroke:#dc2626;stroke-width:3}
svg .credential{fill:#16a34a;opacity:.8}
svg .credential.open{fill:#ea580c}
svg .teardown{stroke:#b91c1c;stroke-width:2;stroke-dasharray:6 3}
svg .creation{stroke:#15803d;stroke-width:2;stroke-dasharray:6 3}
.note{color:#555}
"""


def _join(values: Iterable[object]) -> str:
    return ", ".join(esc(value) for value in values) or "—"


def _table(header: Sequence[str], rows: Iterable[str]) -> str:
    head = "".join(f"<th>{cell}</th>" for cell in header)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _cells(values: Iterable[str]) -> str:
    return "".join(f"<td>{value}</td>" for value in values)


def _section(report: Report, index: int, level: int) -> str:
    rid = f"r{index}"  # ids never come from report text
    h, h2 = f"h{level}", f"h{level + 1}"
    timeline_seqs = {row.seq for row in report.timeline}
    cited = citations(report)
    verdict = report.verdict
    state = "recreatable" if verdict.recreatable else "not-recreatable"
    reasons = "".join(f"<li>{esc(reason)}</li>" for reason in verdict.reasons)

    def seq_link(seq: int) -> str:
        return f'<a href="#{rid}-seq-{seq}">{seq}</a>' if seq in timeline_seqs else str(seq)

    out = [
        f'<section class="report" id="{rid}">',
        f"<{h}>Workspace {esc(report.workspace)}</{h}>",
        f'<div class="verdict {state}">{verdict_label(report)}'
        + (f"<ul>{reasons}</ul>" if reasons else "")
        + "</div>",
        f'<p class="note">Generated at {esc(report.generated_at)}.</p>',
    ]

    findings = sorted_findings(report)
    out.append(f'<{h2} id="{rid}-findings">Findings ({len(findings)})</{h2}>')
    if findings:
        out.append(
            _table(
                ("Severity", "Code", "Seqs", "Explanation"),
                (
                    f'<tr class="finding sev-{f.severity.value}">'
                    f'<td class="severity">{esc(f.severity.value)}</td><td>{esc(f.code.value)}</td>'
                    f"<td>{', '.join(seq_link(s) for s in f.seqs) or '—'}</td>"
                    f"<td>{esc(f.explanation)}</td></tr>"
                    for f in findings
                ),
            )
        )
    else:
        out.append('<p class="note">No gaps found.</p>')

    if report.disregarded:
        out.append(f"<{h2}>Set aside: late or unsigned ({len(report.disregarded)})</{h2}>")
        out.append(
            _table(
                DISREGARDED_HEADINGS,
                (
                    "<tr>" + _cells(esc(c) for c in disregarded_cells(d)) + "</tr>"
                    for d in report.disregarded
                ),
            )  # fmt: skip
        )

    anchors, task, window = report.anchors, report.anchors.task_record, report.window
    record = (
        f"present (seq {esc(task.seq)}), signed: {_yes(task.signed)}, signature valid:"
        f" {_yes(task.signature_valid)}, signer: {esc(task.signer)}"
        if task.present
        else "absent"
    )
    out += [
        f"<{h2}>Anchors and window</{h2}>",
        _table(
            ("Anchor", "Value"),
            (
                f"<tr><th>{name}</th><td>{value}</td></tr>"
                for name, value in (
                    ("Ticket", esc(anchors.ticket)),
                    ("Repository", esc(anchors.repo)),
                    ("Branch", esc(anchors.branch)),
                    ("Task record", record),
                    (
                        "Window start",
                        f"{esc(window.start)} (creation recorded: {_yes(window.created)})",
                    ),
                    (
                        "Window end",
                        f"{esc(window.end)} (teardown recorded: {_yes(window.destroyed)})",
                    ),
                )
            ),
        ),
    ]

    out.append(f"<{h2}>Credentials ({len(report.credentials)})</{h2}>")
    if report.credentials:
        out.append(
            _table(
                ("ID", "Issued", "Expires", "Revoked", "Seqs"),
                (
                    "<tr>"
                    + _cells(
                        (
                            esc(c.id),
                            esc(c.issued_at),
                            esc(c.expires_at),
                            esc(c.revoked_at),
                            ", ".join(seq_link(s) for s in c.seqs) or "—",
                        )
                    )
                    + "</tr>"
                    for c in report.credentials
                ),
            )
        )
    else:
        out.append('<p class="note">No credentials.</p>')

    out += [f"<{h2}>Timeline ({len(report.timeline)} events)</{h2}>", timeline_svg(report)]
    out.append(
        _table(
            TIMELINE_HEADINGS,
            (
                f'<tr id="{rid}-seq-{row.seq}" class="{_row_class(row.seq, cited)}">'
                + _cells(
                    (
                        str(row.seq),
                        esc(row.time),
                        esc(row.source),
                        esc(row.actor),
                        esc(row.action),
                        esc(row.target),
                        esc(row.outcome),
                        _join(row.risk),
                        _join(row.why),
                        _join(cited.get(row.seq, [])),
                    )
                )
                + "</tr>"
                for row in report.timeline
            ),
        )
    )
    out.append("</section>")
    return "\n".join(out)


def _row_class(seq: int, cited: dict[int, list[str]]) -> str:
    return "row cited" if seq in cited else "row"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


class HtmlFormat(Format):
    """A self-contained HTML page: findings, verdict, anchors, SVG timeline, table."""

    name: ClassVar[str] = "html"
    suffix: ClassVar[str] = ".html"
    media_type: ClassVar[str] = "text/html; charset=utf-8"

    def render(self, reports: Sequence[Report]) -> bytes:
        if len(reports) == 1:
            title = f"vestige: {reports[0].workspace}: {verdict_label(reports[0])}"
            body = [_section(reports[0], 0, 1)]
        else:
            title = f"vestige: {len(reports)} workspaces"
            items = "".join(
                f'<li><a href="#r{i}">{esc(r.workspace)}</a>: {verdict_label(r)},'
                f" {len(r.findings)} findings</li>"
                for i, r in enumerate(reports)
            )
            body = [f'<nav class="index"><h1>{esc(title)}</h1><ul>{items}</ul></nav>']
            body += [_section(report, i, 2) for i, report in enumerate(reports)]
        page = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{esc(title)}</title>",
            f"<style>{_STYLE}</style>",
            "</head><body>",
            *body,
            "</body></html>",
            "",
        ]
        return encode("\n".join(page))
