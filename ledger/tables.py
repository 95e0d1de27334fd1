"""The ledger's tables, as SQLModel models (the schema; bulk paths use the DB driver)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, LargeBinary, Text
from sqlmodel import Field, SQLModel

__all__ = ["CheckpointRow", "EntryRow", "MetaRow", "APPEND_ONLY_TABLES"]

# SQLite makes a rowid alias only of a column declared exactly INTEGER PRIMARY KEY.
_ID = BigInteger().with_variant(Integer(), "sqlite")


class EntryRow(SQLModel, table=True):
    """One appended record: its canonical bytes and the hashes that bind it.

    ``tree_nodes`` holds the interior Merkle nodes this leaf completes, levels
    1, 2, ... concatenated (32 bytes each; empty for an even ``seq``): a
    perfect subtree is complete when its last leaf arrives, so each node has
    exactly one home and a proof reads one row per node, O(log n) in all.
    """

    __tablename__ = "ledger_entry"
    seq: int = Field(primary_key=True, sa_type=_ID, sa_column_kwargs={"autoincrement": False})
    # SHA-256 of the caller's idempotency key; unique so a rerun appends nothing twice.
    idem_key: bytes = Field(sa_type=LargeBinary, unique=True)
    canonical: bytes = Field(sa_type=LargeBinary)
    leaf_hash: bytes = Field(sa_type=LargeBinary)
    chain_hash: bytes = Field(sa_type=LargeBinary)
    tree_nodes: bytes = Field(sa_type=LargeBinary)
    appended_at: str = Field(sa_type=Text)


class CheckpointRow(SQLModel, table=True):
    """A signed checkpoint note, written after every append batch and on demand."""

    __tablename__ = "ledger_checkpoint"
    id: int | None = Field(default=None, primary_key=True, sa_type=_ID)
    size: int = Field(sa_type=BigInteger, index=True)
    root: bytes = Field(sa_type=LargeBinary)
    note: str = Field(sa_type=Text)
    created_at: str = Field(sa_type=Text)


class MetaRow(SQLModel, table=True):
    """Facts fixed when the store is created, such as the log's origin."""

    __tablename__ = "ledger_meta"
    name: str = Field(primary_key=True, sa_type=Text)
    value: str = Field(sa_type=Text)


APPEND_ONLY_TABLES = ("ledger_entry", "ledger_checkpoint", "ledger_meta")
