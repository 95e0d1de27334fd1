"""The report as signed: RFC 8785 canonical JSON.

A report's signature covers its canonical bytes, so this format writes exactly
those bytes (plus a newline) and a verifier can check the file as it is. Several
reports become JSON lines, one canonical report per line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from ledger import canonicalize
from reconstruct.formats.interface import Format
from reconstruct.model import Report

__all__ = ["JsonFormat", "canonical_report"]


def canonical_report(report: Report) -> bytes:
    """The RFC 8785 bytes of ``report`` (no trailing newline)."""
    return canonicalize(report.model_dump(mode="json", by_alias=True))


class JsonFormat(Format):
    """One canonical report per line; a single report is a plain JSON file."""

    name: ClassVar[str] = "json"
    suffix: ClassVar[str] = ".json"
    media_type: ClassVar[str] = "application/json"

    def render(self, reports: Sequence[Report]) -> bytes:
        # Canonical JSON holds no raw newline (RFC 8785 escapes it in strings),
        # so each line is one whole report.
        return b"".join(canonical_report(report) + b"\n" for report in reports)
