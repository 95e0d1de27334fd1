"""Tables ingest keeps beside the ledger: quarantine, trust and the event catalogue.

None of them is evidence by itself. The quarantine holds what could not become an
entry (redacted, with its reason); trust holds the signers an operator accepts; the
catalogue is an index derived from ledger entries and can be dropped and rebuilt.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

__all__ = [
    "CatalogEvent",
    "CatalogKey",
    "CatalogState",
    "QuarantineRow",
    "ResolutionRow",
    "TrustRow",
    "TABLES",
]

_ID = BigInteger().with_variant(Integer(), "sqlite")


class QuarantineRow(SQLModel, table=True):
    """A record that could not be ingested. ``raw`` is redacted; the same input twice is one row."""

    __tablename__ = "ingest_quarantine"
    __table_args__ = (UniqueConstraint("origin", "position", "raw_sha256"),)
    id: int | None = Field(default=None, primary_key=True, sa_type=_ID)
    source: str = Field(sa_type=Text)
    origin: str = Field(sa_type=Text)  # file path or http:<route>
    position: str = Field(sa_type=Text)  # "line 7", "Records[12]", a delivery id
    reason: str = Field(sa_type=Text)
    raw: bytes = Field(sa_type=LargeBinary)
    raw_sha256: str = Field(sa_type=Text)  # of the bytes as received, before redaction
    size: int = Field(sa_type=BigInteger)  # bytes as received
    headers: str = Field(sa_type=Text, default="{}")  # a webhook's headers, JSON
    received_at: str = Field(sa_type=Text)


class ResolutionRow(SQLModel, table=True):
    """A quarantined record that a retry has since appended (the quarantine row stays)."""

    __tablename__ = "ingest_quarantine_resolution"
    quarantine_id: int = Field(
        primary_key=True, sa_type=_ID, sa_column_kwargs={"autoincrement": False}
    )
    source_event_id: str = Field(sa_type=Text)
    resolved_at: str = Field(sa_type=Text)


class TrustRow(SQLModel, table=True):
    """A trusted task-record signer: an Ed25519 verifier key, or a Sigstore identity."""

    __tablename__ = "ingest_trust"
    kind: str = Field(primary_key=True, sa_type=Text)  # "ed25519" | "sigstore"
    value: str = Field(primary_key=True, sa_type=Text)  # verifier key, or the identity
    issuer: str = Field(primary_key=True, sa_type=Text, default="")  # OIDC issuer for sigstore
    key_id: str = Field(sa_type=Text, default="")
    added_at: str = Field(sa_type=Text)


class CatalogEvent(SQLModel, table=True):
    """One normalized event's searchable columns, keyed by its ledger ``seq``."""

    __tablename__ = "event_catalog"
    __table_args__ = (
        Index("event_catalog_time", "occurred_at", "seq"),
        Index("event_catalog_source_time", "source", "occurred_at", "seq"),
    )
    seq: int = Field(primary_key=True, sa_type=_ID, sa_column_kwargs={"autoincrement": False})
    source: str = Field(sa_type=Text)
    source_event_id: str = Field(sa_type=Text)
    occurred_at: str = Field(sa_type=Text)


class CatalogKey(SQLModel, table=True):
    """One correlation key of one event."""

    __tablename__ = "event_catalog_key"
    __table_args__ = (Index("event_catalog_key_value", "kind", "value", "seq"),)
    seq: int = Field(primary_key=True, sa_type=_ID, sa_column_kwargs={"autoincrement": False})
    kind: str = Field(primary_key=True, sa_type=Text)
    value: str = Field(primary_key=True, sa_type=Text)


class CatalogState(SQLModel, table=True):
    """How far the catalogue has read the ledger (``indexed``: the last seq scanned)."""

    __tablename__ = "event_catalog_state"
    name: str = Field(primary_key=True, sa_type=Text)
    seq: int = Field(sa_type=BigInteger)


TABLES = [
    QuarantineRow.__table__,  # type: ignore[attr-defined]
    ResolutionRow.__table__,  # type: ignore[attr-defined]
    TrustRow.__table__,  # type: ignore[attr-defined]
    CatalogEvent.__table__,  # type: ignore[attr-defined]
    CatalogKey.__table__,  # type: ignore[attr-defined]
    CatalogState.__table__,  # type: ignore[attr-defined]
]
