"""Timeline events as JSONL that Timesketch imports as is.

Timesketch's JSONL import (docs/guides/user/import-from-json-csv.md in
google/timesketch, https://timesketch.org/guides/user/import-from-json-csv/)
requires on every line ``message`` (a description of the event), ``datetime``
(ISO 8601, e.g. ``2015-07-24T19:01:01+00:00``) and ``timestamp_desc`` (what the
time means); ``timestamp`` is microseconds since the epoch (the importer derives
it from ``datetime`` the same way when absent: ``timestamp() * 1000000``). Any
other key becomes a searchable attribute, and ``tag`` (a list of strings) becomes
the event's tags. Files must end in ``.jsonl``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import ClassVar, Final

from ledger import InputError
from reconstruct.formats._shared import EventRecord, event_records, microseconds, parse_time
from reconstruct.formats.interface import Format
from reconstruct.model import Report

__all__ = ["TIMESTAMP_DESC", "TimesketchFormat", "event_line"]

TIMESTAMP_DESC: Final = "Event Time"
ERASED_DESC: Final = "Erased Time"


def event_line(event: EventRecord) -> dict[str, object]:
    """The Timesketch event for one timeline event; InputError if its time is unreadable.

    An erased entry has no time of its own: it stands at the time it was erased.
    """
    erased = event.time is None
    stamp = event.erased_at if erased else event.time
    moment = parse_time(stamp)
    if moment is None:
        # Timesketch refuses a line without a datetime; better to say which event.
        raise InputError(f"timeline entry {event.seq}: time {(stamp or '')[:64]!r} is not ISO 8601")
    words = [event.actor or "(unattributed)", event.action, event.target or ""]
    return {
        "message": " ".join(word for word in words if word),
        "datetime": moment.isoformat(),
        "timestamp": microseconds(moment),
        "timestamp_desc": ERASED_DESC if erased else TIMESTAMP_DESC,
        "workspace": event.workspace,
        "seq": event.seq,
        "source": event.source,
        "actor": event.actor,
        "action": event.action,
        "target": event.target,
        "outcome": event.outcome,
        "risk": event.risk,
        "why": event.why,
        "finding_codes": event.finding_codes,
        "tag": event.finding_codes,  # tags make the cited events one click away
    }


class TimesketchFormat(Format):
    """Timesketch JSONL: one event per line, tagged with the codes of the findings citing it."""

    name: ClassVar[str] = "timesketch"
    suffix: ClassVar[str] = ".jsonl"
    media_type: ClassVar[str] = "application/jsonl"

    def render(self, reports: Sequence[Report]) -> bytes:
        # ASCII escapes keep every line valid UTF-8 whatever the events hold.
        lines = (json.dumps(event_line(event)) + "\n" for event in event_records(reports))
        return "".join(lines).encode("ascii")
