"""Reading the event catalogue and the ledger for reconstruction (read-only).

The catalogue (``event_catalog``, ``event_catalog_key``) is ingest's index of
ledger entries by correlation key; it is brought up to date before a
reconstruction reads it. Every read is bounded by a tree size, so a job sees one
signed ledger state however much is appended while it runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator
from typing import Any

import orjson
import sqlalchemy as sa

from ingest.model import is_event_document
from ingest.storage import IngestStore
from ingest.tables import CatalogEvent, CatalogKey
from ledger import Store

__all__ = ["Catalog", "Pair", "parse_event", "workspaces_naming"]

Pair = tuple[str, str]  # (key kind, value)

_E = CatalogEvent.__table__  # type: ignore[attr-defined]
_K = CatalogKey.__table__  # type: ignore[attr-defined]
_CHUNK = 500  # values per IN (...) list: well under SQLite's bound-parameter limit


def parse_event(canonical: bytes) -> dict[str, Any] | None:
    """A ledger entry as a normalized event, or None if it is not one."""
    try:
        doc = orjson.loads(canonical)
    except orjson.JSONDecodeError:
        return None
    return doc if is_event_document(doc) else None


class Catalog:
    """The catalogue and the ledger's entries, as of a tree of ``size`` entries."""

    def __init__(self, store: Store, size: int) -> None:
        self.store = store
        self.size = size
        self.engine = store.engine

    @classmethod
    def open(cls, store: Store) -> Catalog:
        """Index what is not indexed yet; read as of the latest signed checkpoint."""
        IngestStore(store).catch_up()
        with store.reader(snapshot=False) as reader:
            head = reader.latest_checkpoint()
        return cls(store, head.size if head else 0)

    def lookup(self, pairs: Collection[Pair]) -> dict[Pair, list[int]]:
        """The seqs of the entries carrying each (kind, value)."""
        by_kind: dict[str, list[str]] = defaultdict(list)
        for kind, value in pairs:
            by_kind[kind].append(value)
        found: dict[Pair, list[int]] = defaultdict(list)
        with self.engine.connect() as conn:
            for kind, values in by_kind.items():
                for i in range(0, len(values), _CHUNK):
                    query = sa.select(_K.c.value, _K.c.seq).where(
                        _K.c.kind == kind,
                        _K.c.value.in_(values[i : i + _CHUNK]),
                        _K.c.seq < self.size,
                    )
                    for value, seq in conn.execute(query):
                        found[(kind, value)].append(int(seq))
        return found

    def canonicals(self, seqs: Iterable[int]) -> dict[int, bytes]:
        with self.store.reader(snapshot=False) as reader:
            return reader.canonicals(sorted(set(seqs)))

    def leaves(self, seqs: Iterable[int]) -> dict[int, bytes]:
        """Stored leaf hashes of the given entries."""
        with self.store.reader(snapshot=False) as reader:
            return {seq: entry.leaf_hash for seq in seqs if (entry := reader.entry(seq))}

    def latest(self, source: str, after: str, until: str) -> tuple[int, str] | None:
        """The last event of ``source`` in (after, until], or None: one index seek."""
        return self._one_event(source, after, until, descending=True)

    def earliest(self, source: str, after: str) -> tuple[int, str] | None:
        """The first event of ``source`` after ``after``, or None."""
        return self._one_event(source, after, None, descending=False)

    def _one_event(
        self, source: str, after: str, until: str | None, descending: bool
    ) -> tuple[int, str] | None:
        query = sa.select(_E.c.seq, _E.c.occurred_at).where(
            _E.c.source == source, _E.c.occurred_at > after, _E.c.seq < self.size
        )
        if until is not None:
            query = query.where(_E.c.occurred_at <= until)
        order = (
            (_E.c.occurred_at.desc(), _E.c.seq.desc())
            if descending
            else (_E.c.occurred_at, _E.c.seq)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query.order_by(*order).limit(1)).first()
        return None if row is None else (int(row[0]), str(row[1]))

    def workspaces(self) -> list[str]:
        """Every workspace id any event names, sorted."""
        query = (
            sa.select(_K.c.value)
            .where(_K.c.kind == "workspace_id", _K.c.seq < self.size)
            .distinct()
            .order_by(_K.c.value)
        )
        with self.engine.connect() as conn:
            return [str(row[0]) for row in conn.execute(query)]

    def agent_events(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """Every event whose actor is an agent (a scan of the ledger)."""
        with self.store.reader(snapshot=False) as reader:
            for seq, canonical in reader.stream_canonical(-1):
                if seq >= self.size:
                    break
                # Canonical JSON has no spaces: a cheap test before parsing.
                if b'"kind":"agent"' not in canonical:
                    continue
                doc = parse_event(canonical)
                if doc is not None and (doc.get("actor") or {}).get("kind") == "agent":
                    yield seq, doc


def workspaces_naming(
    catalog: Catalog, kind: str, value: str, repo: str | None = None
) -> list[str]:
    """Workspaces whose lifecycle events or task records carry (kind, value) (and ``repo``)."""
    seqs = catalog.lookup([(kind, value)]).get((kind, value), [])
    found: set[str] = set()
    for canonical in catalog.canonicals(seqs).values():
        doc = parse_event(canonical)
        if doc is None or doc.get("source") != "agent":
            continue
        keys = doc.get("keys") or {}
        if repo is None or repo in keys.get("repo", []):
            found.update(keys.get("workspace_id", []))
    return sorted(found)
