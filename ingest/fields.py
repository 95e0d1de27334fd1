"""Small, total readers for untrusted records: they never raise on a wrong type."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ingest.interface import InvalidRecord

__all__ = ["dig", "require", "strings", "text", "tickets", "utc"]

# Jira-style issue keys, e.g. SEC-1234 (project key: a capital letter, then capitals/digits).
_TICKET = re.compile(r"(?<![A-Za-z0-9])([A-Z][A-Z0-9]+)-[1-9][0-9]{0,9}(?![0-9])")
# Prefixes of standard names that look like keys (UTF-8, SHA-256, CVE-2024-…), not tickets.
_NOT_TICKETS = frozenset({"AES", "CVE", "GHSA", "ISO", "RFC", "SHA", "TLS", "UTF", "X509"})


def dig(record: object, *path: str | int) -> Any:
    """``record[p0][p1]...``, or None where a step is missing or of the wrong type."""
    node: Any = record
    for step in path:
        if isinstance(step, int):
            if not isinstance(node, list) or not -len(node) <= step < len(node):
                return None
        elif not isinstance(node, Mapping):
            return None
        elif step not in node:
            return None
        node = node[step]
    return node


def text(value: object) -> str | None:
    """A non-empty string, a number as text, or None."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def require(record: object, *path: str | int) -> str:
    """A required text field; :class:`InvalidRecord` names the path when it is absent."""
    value = text(dig(record, *path))
    if value is None:
        raise InvalidRecord(f"missing or non-text field {'.'.join(map(str, path))}")
    return value


def tickets(*texts: str | None) -> list[str]:
    """Ticket keys (``ABC-123``) mentioned in branch names, messages and titles."""
    found: set[str] = set()
    for value in texts:
        if value:
            found.update(
                m.group(0) for m in _TICKET.finditer(value) if m.group(1) not in _NOT_TICKETS
            )
    return sorted(found)


def utc(value: object, field: str = "time") -> str:
    """An RFC 3339 timestamp (or epoch seconds/milliseconds) as UTC ``...T..:..:..ffffffZ``.

    One fixed width, so stored timestamps sort as text.
    """
    moment: datetime
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value  # epoch milliseconds vs seconds
        try:
            moment = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise InvalidRecord(f"{field}: timestamp out of range") from exc
    elif isinstance(value, str) and value:
        stamp = value.strip().replace(" ", "T", 1)
        if stamp.endswith(("Z", "z")):
            stamp = stamp[:-1] + "+00:00"
        # Python 3.11 parses at most 6 fractional digits; Kubernetes and Panther give 9.
        stamp = re.sub(r"(\.\d{6})\d+", r"\1", stamp)
        try:
            moment = datetime.fromisoformat(stamp)
        except ValueError as exc:
            raise InvalidRecord(f"{field}: not an RFC 3339 timestamp: {value[:64]!r}") from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # sources that omit the zone log in UTC
    else:
        raise InvalidRecord(f"{field}: missing timestamp")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def strings(values: Iterable[object]) -> list[str]:
    """The text values among ``values``."""
    return [t for t in map(text, values) if t is not None]
