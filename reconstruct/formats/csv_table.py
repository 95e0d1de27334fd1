"""Timeline events as CSV for spreadsheets: one row per event of every workspace.

Cells are guarded against CSV (formula) injection as OWASP advises: a cell that a
spreadsheet would read as a formula (it starts with ``=``, ``+``, ``-``, ``@``, tab
or carriage return) gets a leading ``'``, and every cell is quoted. Event fields
come from hostile input; ``=HYPERLINK(...)`` in an action must stay text.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import ClassVar, Final

import pandas as pd

from reconstruct.formats._shared import COLUMNS, EventRecord, encode, event_records
from reconstruct.formats.interface import Format
from reconstruct.model import Report

__all__ = ["CsvFormat", "neutralize"]

_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def neutralize(cell: str | None) -> str | None:
    """``cell`` made inert for spreadsheets (OWASP CSV injection)."""
    if cell is not None and cell.startswith(_FORMULA_START):
        return "'" + cell
    return cell


def _row(event: EventRecord) -> dict[str, object]:
    return {
        "workspace": neutralize(event.workspace),
        "seq": event.seq,
        "time": neutralize(event.time),
        "source": neutralize(event.source),
        "actor": neutralize(event.actor),
        "action": neutralize(event.action),
        "target": neutralize(event.target),
        "outcome": neutralize(event.outcome),
        "risk": neutralize(";".join(event.risk)),
        "why": neutralize("; ".join(event.why)),
        "finding_codes": neutralize(";".join(event.finding_codes)),
        "erased_at": neutralize(event.erased_at),
    }


class CsvFormat(Format):
    """CSV: one row per event, list columns joined, cells guarded against formulas."""

    name: ClassVar[str] = "csv"
    suffix: ClassVar[str] = ".csv"
    media_type: ClassVar[str] = "text/csv; charset=utf-8"

    def render(self, reports: Sequence[Report]) -> bytes:
        frame = pd.DataFrame([_row(event) for event in event_records(reports)], columns=COLUMNS)
        # Quote every cell (OWASP) and end lines with CRLF (RFC 4180).
        text = frame.to_csv(index=False, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        return encode(text)
