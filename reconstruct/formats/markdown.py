"""A Markdown report for a human reader: the gaps first, then the evidence.

Every value is escaped: event fields come from whatever the sources logged, and
an unescaped ``|``, newline, ``[`` or ``<`` in one could break the tables, forge
rows or links, or inject HTML into a renderer that allows it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import ClassVar, Final

from reconstruct.formats._shared import (
    DISREGARDED_HEADINGS,
    TIMELINE_HEADINGS,
    citations,
    disregarded_cells,
    encode,
    show_controls,
    sorted_findings,
    verdict_label,
)
from reconstruct.formats.interface import Format
from reconstruct.model import Report

__all__ = ["MarkdownFormat", "escape"]

# CommonMark lets any ASCII punctuation be backslash-escaped; these are the
# characters that can start or end inline markup (code, emphasis, links, HTML,
# entities, GFM strikethrough and table cells).
_MARKUP: Final = re.compile(r"[\\`*_\[\]<>|&~!#]")
_NEWLINE: Final = re.compile(r"\r\n|\r|\n")
_NONE: Final = "—"


def escape(value: object) -> str:
    """``value`` as inline Markdown text that renders as itself, on one line.

    Newlines become ``<br>`` (the only line break a table cell can hold); None is a dash.
    """
    if value is None:
        return _NONE
    lines = _NEWLINE.split(show_controls(str(value)))
    return "<br>".join(_MARKUP.sub(r"\\\g<0>", line) for line in lines)


def _listing(values: Iterable[object]) -> str:
    return ", ".join(escape(value) for value in values) or _NONE


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _report(report: Report, level: int) -> list[str]:
    h = "#" * level
    verdict = report.verdict
    lines = [f"{h} Workspace {escape(report.workspace)}: {verdict_label(report)}", ""]
    lines += [f"Generated at {escape(report.generated_at)}.", ""]
    if verdict.reasons:
        lines += ["Reasons:", ""]
        lines += [f"- {escape(reason)}" for reason in verdict.reasons]
        lines.append("")

    findings = sorted_findings(report)
    lines += [f"{h}# Findings ({len(findings)})", ""]
    if findings:
        lines += _table(
            ("Severity", "Code", "Seqs", "Explanation"),
            (
                (f.severity.value, f.code.value, _listing(f.seqs), escape(f.explanation))
                for f in findings
            ),
        )
    else:
        lines.append("No gaps found.")
    lines.append("")

    if report.disregarded:
        lines += [f"{h}# Set aside: late or unsigned ({len(report.disregarded)})", ""]
        lines += _table(
            DISREGARDED_HEADINGS,
            ([escape(cell) for cell in disregarded_cells(d)] for d in report.disregarded),
        )
        lines.append("")

    anchors = report.anchors
    task = anchors.task_record
    if task.present:
        record = (
            f"present (seq {escape(task.seq)}), signed: {_yes(task.signed)}, "
            f"signature valid: {_yes(task.signature_valid)}, signer: {escape(task.signer)}"
        )
    else:
        record = "absent"
    lines += [
        f"{h}# Anchors",
        "",
        f"- Ticket: {escape(anchors.ticket)}",
        f"- Repository: {escape(anchors.repo)}",
        f"- Branch: {escape(anchors.branch)}",
        f"- Task record: {record}",
        "",
    ]

    window = report.window
    lines += [
        f"{h}# Window",
        "",
        f"- Start: {escape(window.start)} (creation recorded: {_yes(window.created)})",
        f"- End: {escape(window.end)} (teardown recorded: {_yes(window.destroyed)})",
        "",
    ]

    lines += [f"{h}# Credentials ({len(report.credentials)})", ""]
    if report.credentials:
        lines += _table(
            ("ID", "Issued", "Expires", "Revoked", "Seqs"),
            (
                (
                    escape(c.id),
                    escape(c.issued_at),
                    escape(c.expires_at),
                    escape(c.revoked_at),
                    _listing(c.seqs),
                )
                for c in report.credentials
            ),
        )
    else:
        lines.append("No credentials.")
    lines.append("")

    cited = citations(report)
    lines += [f"{h}# Timeline ({len(report.timeline)} events)", ""]
    if report.timeline:
        lines += _table(
            TIMELINE_HEADINGS,
            (
                (
                    str(row.seq),
                    escape(row.time),
                    escape(row.source),
                    escape(row.actor),
                    escape(row.action),
                    escape(row.target),
                    escape(row.outcome),
                    _listing(row.risk),
                    _listing(row.why),
                    ", ".join(cited.get(row.seq, [])) or _NONE,  # codes: a fixed vocabulary
                )
                for row in report.timeline
            ),
        )
    else:
        lines.append("No events.")
    lines.append("")
    return lines


class MarkdownFormat(Format):
    """Markdown: verdict, findings (critical first), anchors, window, credentials, timeline."""

    name: ClassVar[str] = "md"
    suffix: ClassVar[str] = ".md"
    media_type: ClassVar[str] = "text/markdown; charset=utf-8"

    def render(self, reports: Sequence[Report]) -> bytes:
        if len(reports) == 1:
            return encode("\n".join(_report(reports[0], 1)))
        # Several workspaces: an index, then one second-level section each.
        lines = [f"# vestige reconstruction: {len(reports)} workspaces", ""]
        lines += [
            f"- {escape(r.workspace)}: {verdict_label(r)}, {len(r.findings)} findings"
            for r in reports
        ]
        lines.append("")
        for report in reports:
            lines += _report(report, 2)
        return encode("\n".join(lines))
