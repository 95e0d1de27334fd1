"""Reading and writing ingest's own tables (see ``ingest.tables``), over the ledger's store.

SQL goes through SQLAlchemy Core: every value is a bound parameter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ingest.interface import Trust
from ingest.model import is_event_document
from ingest.tables import (
    TABLES,
    CatalogEvent,
    CatalogKey,
    CatalogState,
    QuarantineRow,
    ResolutionRow,
    TrustRow,
)
from ledger import Store

__all__ = [
    "ACTOR_KIND",
    "NAMESPACE_KIND",
    "REPO_DELETED_KIND",
    "REPO_DESTRUCTION",
    "VAULT_ROLE_KIND",
    "IngestStore",
    "Quarantined",
    "now",
]

_Q = QuarantineRow.__table__  # type: ignore[attr-defined]
_R = ResolutionRow.__table__  # type: ignore[attr-defined]
_T = TrustRow.__table__  # type: ignore[attr-defined]
_E = CatalogEvent.__table__  # type: ignore[attr-defined]
_K = CatalogKey.__table__  # type: ignore[attr-defined]
_S = CatalogState.__table__  # type: ignore[attr-defined]


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Quarantined:
    """A record to quarantine (``raw`` already redacted)."""

    source: str
    origin: str
    position: str
    reason: str
    raw: bytes
    raw_sha256: str
    size: int
    headers: str = "{}"


# Catalogue-only key kinds, besides the event's correlation keys: who acted (an agent's
# SPIFFE ID, OIDC subject, ARN or login; CloudTrail's sourceIdentity) and a Kubernetes
# namespace, so reconstruction can link a workspace's identity and namespace by index.
ACTOR_KIND = "actor"
NAMESPACE_KIND = "namespace"
VAULT_ROLE_KIND = "vault_role"
REPO_DELETED_KIND = "repo_deleted"
REPO_DESTRUCTION = ("repository.deleted", "repo.destroy")
_CREDS_ROLE = re.compile(r"(?:^|/)creds/([^/]+)")
_SERVICE_ACCOUNT = "system:serviceaccount:"


def _index_keys(doc: dict[str, Any]) -> set[tuple[str, str]]:
    pairs = {(kind, value) for kind, values in doc["keys"].items() for value in values}
    actor, attributes = doc.get("actor") or {}, doc.get("attributes") or {}
    for value in (
        actor.get("id"),
        actor.get("spiffe_id"),
        actor.get("oidc_sub"),
        attributes.get("source_identity"),
    ):
        if isinstance(value, str) and value:
            pairs.add((ACTOR_KIND, value))
    source = doc.get("source")
    if source == "k8s-audit":
        namespace, user = attributes.get("namespace"), actor.get("id")
        if isinstance(namespace, str) and namespace:
            pairs.add((NAMESPACE_KIND, namespace))
        if isinstance(user, str) and user.startswith(_SERVICE_ACCOUNT):
            # A service account belongs to its namespace wherever it acts.
            home = user.removeprefix(_SERVICE_ACCOUNT).partition(":")[0]
            if home:
                pairs.add((NAMESPACE_KIND, home))
    if source in ("github", "github-audit") and doc.get("action") in REPO_DESTRUCTION:
        # Few and telling: their own kind, so a workspace need not read its repository's
        # whole history to find out whether it was deleted.
        pairs.update((REPO_DELETED_KIND, repo) for repo in doc["keys"].get("repo", ()))
    if source == "vault":
        # A dynamic-secret role, from `<mount>/creds/<role>` paths and lease ids: a role
        # named after a workspace links the leases issued for it.
        for value in (doc.get("target"), *doc["keys"].get("credential_id", ())):
            role = _CREDS_ROLE.search(value) if isinstance(value, str) else None
            if role:
                pairs.add((VAULT_ROLE_KIND, role.group(1)))
    return pairs


def _quarantine_where(query: Any, include_resolved: bool, after: int | None) -> Any:
    if not include_resolved:
        query = query.where(_R.c.quarantine_id.is_(None))
    if after is not None:
        query = query.where(_Q.c.id > after)
    return query


class IngestStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine
        self._created = False

    def create(self) -> None:
        """Create ingest's tables if absent; safe when several processes start at once."""
        if not self._created:
            self.store.create_side_tables(TABLES, "vestige_ingest")
            self._created = True

    def _insert_ignoring_duplicates(self, table: sa.Table) -> Any:
        dialect = postgresql if self.store.is_postgres else sqlite
        return dialect.insert(table).on_conflict_do_nothing()

    # -- quarantine ---------------------------------------------------------

    def quarantine(self, rows: Sequence[Quarantined]) -> None:
        """Store rejected records; a record already quarantined is not stored twice."""
        if not rows:
            return
        self.create()
        received = now()
        values = [{**row.__dict__, "received_at": received} for row in rows]
        with self.store.transaction() as conn:
            conn.execute(self._insert_ignoring_duplicates(_Q), values)

    def quarantined(
        self, include_resolved: bool = False, limit: int = 1000, after: int | None = None
    ) -> list[dict[str, Any]]:
        """Quarantined records by id, the first ``limit`` with an id above ``after``."""
        self.create()
        query = (
            sa.select(
                _Q.c.id,
                _Q.c.source,
                _Q.c.origin,
                _Q.c.position,
                _Q.c.reason,
                _Q.c.size,
                _Q.c.received_at,
                _R.c.source_event_id.label("resolved_as"),
            )
            .join(_R, _R.c.quarantine_id == _Q.c.id, isouter=True)
            .order_by(_Q.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(_quarantine_where(query, include_resolved, after))
            return [dict(row._mapping) for row in rows]

    def quarantined_count(self, include_resolved: bool = False, after: int | None = None) -> int:
        """How many quarantined records have an id above ``after`` (all, without it)."""
        self.create()
        query = sa.select(sa.func.count()).select_from(
            _Q.join(_R, _R.c.quarantine_id == _Q.c.id, isouter=True)
        )
        with self.engine.connect() as conn:
            return int(conn.execute(_quarantine_where(query, include_resolved, after)).scalar_one())

    def quarantined_record(self, record_id: int) -> dict[str, Any] | None:
        self.create()
        query = (
            sa.select(_Q, _R.c.source_event_id.label("resolved_as"))
            .join(_R, _R.c.quarantine_id == _Q.c.id, isouter=True)
            .where(_Q.c.id == record_id)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else dict(row._mapping)

    def resolve(self, record_id: int, source_event_id: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                self._insert_ignoring_duplicates(_R),
                [
                    {
                        "quarantine_id": record_id,
                        "source_event_id": source_event_id,
                        "resolved_at": now(),
                    }
                ],
            )

    # -- trust --------------------------------------------------------------

    def add_trust(self, kind: str, value: str, issuer: str = "", key_id: str = "") -> None:
        self.create()
        with self.store.transaction() as conn:
            conn.execute(
                self._insert_ignoring_duplicates(_T),
                [
                    {
                        "kind": kind,
                        "value": value,
                        "issuer": issuer,
                        "key_id": key_id,
                        "added_at": now(),
                    }
                ],
            )

    def trust_rows(self) -> list[dict[str, Any]]:
        self.create()
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(_T).order_by(_T.c.added_at, _T.c.value))
            return [dict(row._mapping) for row in rows]

    def trust(self) -> Trust:
        ed25519: dict[str, list[str]] = {}
        sigstore: list[tuple[str, str]] = []
        for row in self.trust_rows():
            if row["kind"] == "ed25519":
                ed25519.setdefault(row["key_id"], []).append(row["value"])
            else:
                sigstore.append((row["value"], row["issuer"]))
        return Trust({k: tuple(v) for k, v in ed25519.items()}, tuple(sigstore))

    # -- catalogue ----------------------------------------------------------

    def catch_up(self, progress: Callable[[int], None] | None = None, batch: int = 5000) -> int:
        """Index ledger entries appended since the last call; returns how many were events.

        ``vestige ingest`` and the HTTP collector call it after appending, and every read
        before it reads, so the index never falls behind what a search sees.
        ``progress(entries scanned)`` is called after each batch.
        """
        self.create()
        with self.engine.connect() as conn:
            stored = conn.execute(sa.select(_S.c.seq).where(_S.c.name == "indexed")).scalar()
        last = -1 if stored is None else int(stored)
        # Plain DB-API inserts: SQLAlchemy's per-row parameter handling would double the time.
        insert_event, insert_key = (
            sql.replace("?", "%s") if self.store.is_postgres else sql
            for sql in (
                "INSERT INTO event_catalog (seq, source, source_event_id, occurred_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                "INSERT INTO event_catalog_key (seq, kind, value) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
            )
        )
        events: list[tuple[int, str, str, str]] = []
        keys: list[tuple[int, str, str]] = []
        indexed = scanned = 0

        def flush(through: int) -> None:
            # Index rows and the watermark commit together: after a crash nothing is
            # skipped, and rows written twice are ignored.
            with self.store.transaction() as conn:
                if events:
                    conn.exec_driver_sql(insert_event, events)
                if keys:
                    conn.exec_driver_sql(insert_key, keys)
                conn.execute(self._insert_ignoring_duplicates(_S), [{"name": "indexed", "seq": -1}])
                # Never backwards: a concurrent catch-up may have got further already.
                advance = sa.update(_S).where(_S.c.name == "indexed", _S.c.seq < through)
                conn.execute(advance.values(seq=through))

        with self.store.reader(snapshot=False) as reader:
            seq = last
            for seq, canonical in reader.stream_canonical(last):
                scanned += 1
                doc = orjson.loads(canonical)
                if is_event_document(doc):
                    events.append((seq, doc["source"], doc["source_event_id"], doc["occurred_at"]))
                    keys.extend((seq, kind, value) for kind, value in _index_keys(doc))
                if scanned % batch == 0:
                    flush(seq)
                    indexed += len(events)
                    events, keys = [], []
                    if progress is not None:
                        progress(scanned)
            if seq != last:
                flush(seq)
                indexed += len(events)
        return indexed

    def find_events(
        self,
        source: str | None = None,
        keys: Iterable[tuple[str, str]] = (),
        since: str | None = None,
        until: str | None = None,
        limit: int | None = 100,
    ) -> list[tuple[int, bytes]]:
        """(seq, canonical) of matching events, by time then seq. All key filters must match."""
        self.catch_up()
        query = sa.select(_E.c.seq).order_by(_E.c.occurred_at, _E.c.seq)
        if source is not None:
            query = query.where(_E.c.source == source)
        if since is not None:
            query = query.where(_E.c.occurred_at >= since)
        if until is not None:
            query = query.where(_E.c.occurred_at < until)
        for kind, value in keys:
            match = sa.select(_K.c.seq).where(_K.c.kind == kind, _K.c.value == value)
            query = query.where(_E.c.seq.in_(match))
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            seqs = [int(row[0]) for row in conn.execute(query)]
        with self.store.reader() as reader:
            found = reader.canonicals(seqs)
        return [(seq, found[seq]) for seq in seqs]
