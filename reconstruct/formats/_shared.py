"""Helpers the formats share: event rows, finding citations, times, hostile text.

Every string of a report may come from an attacker (event fields are whatever a
source logged), so the helpers that display text make invisible characters visible.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Final

from reconstruct.model import Disregarded, Finding, Report

__all__ = [
    "COLUMNS",
    "DISREGARDED_HEADINGS",
    "TIMELINE_HEADINGS",
    "EventRecord",
    "citations",
    "clean",
    "disregarded_cells",
    "encode",
    "esc",
    "event_records",
    "microseconds",
    "parse_time",
    "show_controls",
    "sorted_findings",
    "verdict_label",
]


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)

# C0/C1 controls other than tab, LF and CR, plus the bidirectional overrides and
# isolates that can make displayed text read differently from what it is.
_INVISIBLE: Final = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One timeline event with its workspace and the findings citing it."""

    workspace: str
    seq: int
    time: str | None  # None: the entry was erased, and its time with it
    source: str
    actor: str | None
    action: str
    target: str | None
    outcome: str
    risk: list[str]
    why: list[str]
    finding_codes: list[str]
    erased_at: str | None  # when the entry's bytes were erased, if they were


# Columns of the tabular formats (csv, parquet), in order: the record's fields.
COLUMNS: Final = tuple(field.name for field in fields(EventRecord))


def clean(text: str) -> str:
    """``text`` as valid Unicode: lone surrogates become their ``\\udxxx`` spelling.

    A Python string may hold lone surrogates, which no UTF-8 encoder (nor pyarrow)
    accepts; writing them out as text keeps the evidence visible instead of failing.
    """
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def encode(text: str) -> bytes:
    """UTF-8 bytes of a rendered document, lone surrogates spelled out."""
    return text.encode("utf-8", "backslashreplace")


def esc(value: object) -> str:
    """``value`` as HTML text or attribute value, controls spelled out; None is a dash."""
    if value is None:
        return "—"
    return html.escape(show_controls(str(value)), quote=True)


def show_controls(text: str) -> str:
    """``text`` with control and bidi-override characters written as ``\\xNN``/``\\uNNNN``."""
    return _INVISIBLE.sub(_spell, text)


def _spell(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def sorted_findings(report: Report) -> list[Finding]:
    """The report's findings, most severe first; ties keep the report's order."""
    return sorted(report.findings, key=lambda finding: -finding.severity.rank)


def citations(report: Report) -> dict[int, list[str]]:
    """For each cited seq, the codes of the findings citing it (most severe first, once each)."""
    cited: dict[int, list[str]] = {}
    for finding in sorted_findings(report):
        for seq in finding.seqs:
            codes = cited.setdefault(seq, [])
            if finding.code.value not in codes:
                codes.append(finding.code.value)
    return cited


def verdict_label(report: Report) -> str:
    return "RECREATABLE" if report.verdict.recreatable else "NOT RECREATABLE"


def event_records(reports: Sequence[Report]) -> list[EventRecord]:
    """Every timeline event of ``reports``, in report then timeline order."""
    records: list[EventRecord] = []
    for report in reports:
        cited = citations(report)
        workspace = clean(report.workspace)
        records.extend(
            EventRecord(
                workspace=workspace,
                seq=row.seq,
                time=None if row.time is None else clean(row.time),
                source=clean(row.source),
                actor=None if row.actor is None else clean(row.actor),
                action=clean(row.action),
                target=None if row.target is None else clean(row.target),
                outcome=clean(row.outcome),
                risk=[clean(item) for item in row.risk],
                why=[clean(item) for item in row.why],
                finding_codes=cited.get(row.seq, []),
                erased_at=None if row.erased is None else clean(row.erased.erased_at),
            )
            for row in report.timeline
        )
    return records


def parse_time(text: str | None) -> datetime | None:
    """An ISO 8601 / RFC 3339 time as an aware UTC datetime; None if absent or unreadable.

    Times without a zone are taken as UTC, as ingest does for sources that omit it.
    """
    if not text:
        return None
    stamp = text.strip()
    if stamp.endswith(("Z", "z")):
        stamp = stamp[:-1] + "+00:00"
    # Python 3.11 reads at most 6 fractional digits; some sources write 9.
    stamp = re.sub(r"(\.\d{6})\d+", r"\1", stamp)
    try:
        moment = datetime.fromisoformat(stamp)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: shifting year 1 or 9999 out of range
        return None


def microseconds(moment: datetime) -> int:
    """Microseconds since the Unix epoch, exactly (no float rounding)."""
    return (moment - _EPOCH) // _MICROSECOND


# The columns of the timeline table in the Markdown and HTML reports.
TIMELINE_HEADINGS: Final = (
    "Seq", "Time", "Source", "Actor", "Action", "Target", "Outcome", "Risk", "Why", "Findings",
)  # fmt: skip


# The table of approvals and revocations the rules set aside (Markdown and HTML).
DISREGARDED_HEADINGS: Final = (
    "Seq", "Kind", "Reason", "Claimed at", "Received at", "Against", "Explanation",
)  # fmt: skip


def disregarded_cells(item: Disregarded) -> tuple[object, ...]:
    """One row of that table, unescaped (None shows as a dash)."""
    received = item.received_at or "unknown (no receipt)"
    return (item.seq, item.kind, item.reason.replace("_", " "), item.claimed_at, received,
            item.against, item.explanation)  # fmt: skip
