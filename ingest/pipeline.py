"""From decoded records to ledger entries: detect -> extract -> redact -> append, or quarantine.

Lifecycle of one batch: records are normalized in memory, then appended in one
ledger transaction (duplicates of ``(source, source_event_id)`` are skipped by the
ledger's idempotency key), then the batch's rejects are written to the quarantine.
A crash loses at most the uncommitted batch; a rerun appends it and skips the rest.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from ingest.framing import (
    DEFAULT_MAX_RECORD,
    Frame,
    Skip,
    encode_for_quarantine,
    file_frames,
    input_files,
)
from ingest.interface import Context, InvalidRecord, Source
from ingest.model import EVENT_SCHEMA, Collector, Extracted, document
from ingest.redact import Redactor
from ingest.sources import SOURCES, detect
from ingest.storage import IngestStore, Quarantined, now
from ledger import InputError, Ledger, Record, canonicalize

__all__ = [
    "AUTO",
    "RETRY_HEADER",
    "Counts",
    "Outcome",
    "Pipeline",
    "Summary",
    "idempotency_key",
    "os_user",
]

AUTO = "auto"
UNKNOWN_SOURCE = "unknown"  # where `auto` could not tell the format
DEFAULT_BATCH = 1000
RETRY_HEADER = "x-vestige-quarantine-id"  # set by `quarantine retry` on the record's context
# Stands in for the raw record while the (small) event is canonicalized; random, so no
# record can contain it.
_RAW_SLOT = f"\x00raw-{secrets.token_hex(16)}\x00"
_RAW_SLOT_JSON = canonicalize(_RAW_SLOT)


def os_user() -> str | None:
    """Who runs this process, for the receipt of what a command ingests."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment nor in the password database
        return str(os.getuid()) if hasattr(os, "getuid") else None


def _receipt(context: Context, observed_at: str) -> dict[str, Any]:
    """The entry's receipt (``ingest.model.Receipt``): when and through what it arrived.

    Without a collector the caller is a program using the pipeline directly, i.e. local.
    """
    collector = context.collector or Collector(kind="cli", path=context.origin or None)
    return {
        "received_at": context.received_at or observed_at,
        "collector": {
            "kind": collector.kind,
            "name": collector.name,
            "path": collector.path,
            "user": collector.user,
        },
    }


def idempotency_key(source: str, source_event_id: str) -> str:
    """The ledger key that makes ``(source, source_event_id)`` unique."""
    return f"event\x00{source}\x00{source_event_id}"


@dataclass
class Counts:
    read: int = 0
    appended: int = 0
    duplicates: int = 0
    quarantined: int = 0

    def add(self, other: Counts) -> None:
        self.read += other.read
        self.appended += other.appended
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined

    def to_json(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class Summary:
    """What an ingest run did: totals and per source. read = appended + duplicates + quarantined.

    ``skipped``: input paths not read at all (special files, symlink loops), with why.
    """

    by_source: dict[str, Counts] = field(default_factory=dict)
    skipped: list[Skip] = field(default_factory=list)

    def of(self, source: str) -> Counts:
        return self.by_source.setdefault(source, Counts())

    @property
    def total(self) -> Counts:
        total = Counts()
        for counts in self.by_source.values():
            total.add(counts)
        return total

    def to_json(self) -> dict[str, Any]:
        return {
            **self.total.to_json(),
            "by_source": {name: c.to_json() for name, c in sorted(self.by_source.items())},
            "skipped": [skip.to_json() for skip in self.skipped],
        }


@dataclass(frozen=True)
class Outcome:
    """One record's fate: appended, duplicate, or quarantined (with the reason)."""

    source: str
    status: str
    source_event_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class _Normalized:
    """A record ready to append, with what is needed to settle its fate after the commit."""

    source: str
    source_event_id: str
    record: Record
    raw_sha256: str
    origin: str
    position: str


_Item = _Normalized | Quarantined  # one frame's result, in input order


class Pipeline:
    """Normalizes records and appends them; one instance per process."""

    def __init__(
        self,
        ledger: Ledger,
        redactor: Redactor,
        store: IngestStore | None = None,
        sources: Mapping[str, Source] = SOURCES,
        batch_size: int = DEFAULT_BATCH,
        max_record_bytes: int = DEFAULT_MAX_RECORD,
    ) -> None:
        self.ledger = ledger
        self.redactor = redactor
        self.store = store or IngestStore(ledger.store)
        self.sources = sources
        self.batch_size = batch_size
        self.max_record_bytes = max_record_bytes
        self.store.create()
        self.trust = self.store.trust()

    # -- one record ---------------------------------------------------------

    def source_for(self, name: str, value: Mapping[str, Any], context: Context) -> Source:
        if name == AUTO:
            found = detect(value, context, self.sources)
            if found is None:
                raise InvalidRecord("format not recognised by any source")
            return found
        return self.sources[name]

    def normalize(
        self, source: Source, value: dict[str, Any], context: Context
    ) -> tuple[str, str, Record]:
        """(source_event_id, raw_sha256, ledger record) of one record, or :class:`InvalidRecord`."""
        extracted = source.extract(value, context)
        try:
            raw_canonical = canonicalize(value)
        except InputError as exc:
            raise InvalidRecord(str(exc)) from exc
        raw_sha256 = hashlib.sha256(raw_canonical).hexdigest()
        retried = context.headers.get(RETRY_HEADER)
        if retried is not None:
            # Parsed again from the quarantine's redacted copy: say so, since raw_sha256
            # is then of that copy, not of the record as first received.
            attributes = {**extracted.attributes, "from_quarantine": retried}
            extracted = extracted.model_copy(update={"attributes": attributes})
        record = self._record(extracted, value, raw_canonical, raw_sha256, context)
        return extracted.source_event_id, raw_sha256, record

    def _record(
        self,
        extracted: Extracted,
        raw: dict[str, Any],
        raw_canonical: bytes,
        raw_sha256: str,
        context: Context,
    ) -> Record:
        doc = document(extracted)
        observed = now()
        # The receipt is in the canonical bytes, so signed reports carry it; dedupe
        # (idempotency key, raw_sha256) ignores it, so a re-ingest is still a duplicate.
        doc.update(
            schema=EVENT_SCHEMA,
            observed_at=observed,
            receipt=_receipt(context, observed),
            raw_sha256=raw_sha256,
            raw=_RAW_SLOT,
        )
        head = canonicalize(doc)
        # One prefilter call for both texts: each of its passes costs a call and a scan.
        if self.redactor.needs_walk(b"\n".join((head, raw_canonical))):
            doc["raw"] = raw
            doc, findings = self.redactor.redact(doc)
            if findings:
                doc["risk"] = sorted({*doc["risk"], "secret_exposed"})
                doc["attributes"] = {
                    **doc["attributes"],
                    "secrets": [f.to_json() for f in findings],
                }
            canonical = canonicalize(doc)
        else:
            # RFC 8785 encodes a member's value independently of its context, so the
            # raw record's canonical bytes can take the place of the slot's.
            canonical = head.replace(_RAW_SLOT_JSON, raw_canonical, 1)
        key = idempotency_key(extracted.source, extracted.source_event_id)
        return Record.keyed(canonical, key)

    def _quarantine_row(
        self,
        source: str,
        origin: str,
        position: str,
        reason: str,
        raw: bytes,
        headers: Mapping[str, str] | None = None,
        value: dict[str, Any] | None = None,
    ) -> Quarantined:
        stored = self.redactor.redact_bytes(raw)
        if value is not None and self.redactor.needs_walk(raw):
            try:  # decoded: the structured redactor also knows secret-named members
                stored = orjson.dumps(self.redactor.redact(value)[0])
            except (TypeError, RecursionError):
                pass  # too deep to re-encode: the byte-level redaction stands
        return self._redacted(
            Quarantined(
                source=source,
                origin=origin,
                position=position,
                reason=reason,
                raw=stored,
                raw_sha256=hashlib.sha256(raw).hexdigest(),
                size=len(raw),
                headers=orjson.dumps(self.redactor.redact_headers(headers or {})).decode(),
            )
        )

    def _redacted(self, row: Quarantined) -> Quarantined:
        """Every text of a quarantine row that may echo its input (a parser's message, a
        delivery id, a path) redacted; the reason is cut after redaction, so no cut can
        leave a secret's head unrecognised."""
        text = self.redactor.redact_text
        return replace(
            row,
            origin=text(row.origin),
            position=text(row.position),
            reason=text(row.reason)[:2000],
        )

    def _take(self, name: str, frame: Frame, context: Context) -> _Item:
        """Normalize one frame, or make its quarantine row."""
        source_name = UNKNOWN_SOURCE if name == AUTO else name
        reason = frame.error
        if frame.value is not None:
            try:
                source = self.source_for(name, frame.value, context)
                source_name = source.name
                event_id, raw_sha256, record = self.normalize(source, frame.value, context)
            except InvalidRecord as exc:
                reason = str(exc)
            except RecursionError:
                reason = "record is nested too deeply"
            except Exception as exc:  # a parser bug must not lose the record or stop the run
                reason = f"internal error while parsing: {type(exc).__name__}: {exc}"
            else:
                return _Normalized(
                    source_name, event_id, record, raw_sha256, context.origin, frame.position
                )
        raw = frame.raw or encode_for_quarantine(frame.value)
        return self._quarantine_row(
            source_name, context.origin, frame.position, reason or "?", raw, context.headers,
            frame.value,
        )  # fmt: skip

    def _commit(self, items: list[_Item], quarantine: bool = True) -> list[Outcome]:
        """Append the batch in one transaction, then settle each item's fate, in order.

        A record whose key is already stored is a duplicate when its raw digest matches
        the stored event's; with other content under the same key it is a conflict
        (a replayed id, or a source reusing ids) and is quarantined, not dropped.
        """
        records = [item for item in items if isinstance(item, _Normalized)]
        fresh: set[bytes] = set()
        if records:
            fresh = {r.key for r in self.ledger.append_batch([r.record for r in records])}
        repeats = Counter(r.record.key for r in records)
        stored = self.ledger.entries_by_key(
            [key for key, n in repeats.items() if key not in fresh or n > 1]
        )
        outcomes: list[Outcome] = []
        rejects: list[Quarantined] = []
        for item in items:
            if isinstance(item, Quarantined):
                rejects.append(item)
                outcomes.append(Outcome(item.source, "quarantined", reason=item.reason))
            elif item.record.key in fresh:
                fresh.discard(item.record.key)  # a repeat within the batch is not fresh
                outcomes.append(Outcome(item.source, "appended", item.source_event_id))
            else:
                seq, canonical = stored[item.record.key]
                if orjson.loads(canonical).get("raw_sha256") == item.raw_sha256:
                    outcomes.append(Outcome(item.source, "duplicate", item.source_event_id))
                    continue
                reason = (
                    f"conflicts with ledger entry {seq}: same source and source_event_id "
                    f"{item.source_event_id!r}, different content"
                )
                rejects.append(self._redacted(
                    Quarantined(item.source, item.origin, item.position, reason,
                                item.record.canonical, item.raw_sha256, len(item.record.canonical))
                ))  # fmt: skip
                outcomes.append(Outcome(item.source, "quarantined", item.source_event_id, reason))
        if quarantine:
            self.store.quarantine(rejects)
        return outcomes

    # -- files --------------------------------------------------------------

    def ingest_paths(
        self,
        name: str,
        paths: Iterable[Path],
        progress: Callable[[int, int], None] | None = None,
    ) -> Summary:
        """Ingest files and directory trees; ``progress(bytes done, bytes total)``."""
        summary = Summary()
        files = list(input_files(list(paths), summary.skipped))
        sizes = [_size(path) for path in files]
        user = os_user()
        total = sum(sizes)
        items: list[_Item] = []
        done = 0
        for path, size in zip(files, sizes, strict=True):
            # Records without a time of their own fall back to when we read them.
            received = {"x-vestige-received-at": now()}
            # Each record's receipt is stamped when it is read (received_at None).
            collector = Collector(kind="cli", path=str(path.absolute()), user=user)
            context = Context(str(path), received, self.trust, collector)
            for frame, position in file_frames(path, self.max_record_bytes):
                items.append(self._take(name, frame, context))
                if len(items) >= self.batch_size:
                    self._settle(items, summary)
                    items = []
                    if progress is not None:
                        progress(done + position(), total)
            done += size
        self._settle(items, summary)
        if progress is not None:
            progress(total, total)
        return summary

    def _settle(self, items: list[_Item], summary: Summary) -> None:
        for outcome in self._commit(items):
            counts = summary.of(outcome.source)
            counts.read += 1
            if outcome.status == "appended":
                counts.appended += 1
            elif outcome.status == "duplicate":
                counts.duplicates += 1
            else:
                counts.quarantined += 1

    # -- deliveries (HTTP) --------------------------------------------------

    def ingest_values(
        self, name: str, values: Iterable[Frame], context: Context, quarantine: bool = True
    ) -> list[Outcome]:
        """Ingest already-framed records in one batch; committed when this returns.

        ``quarantine=False`` reports rejects without storing them (a retry of a
        record that is already in the quarantine).
        """
        return self._commit([self._take(name, frame, context) for frame in values], quarantine)

    def quarantine_only(
        self,
        source: str,
        origin: str,
        position: str,
        reason: str,
        raw: bytes,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Record a rejected delivery (bad signature, oversized, malformed)."""
        self.store.quarantine(
            [self._quarantine_row(source, origin, position, reason, raw, headers)]
        )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # reported when it is read
