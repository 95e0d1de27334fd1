"""The ledger's tables, as SQLModel models (the schema; bulk paths use the DB driver)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, LargeBinary, Text
from sqlmodel import Field, SQLModel

__all__ = ["CheckpointRow", "EntryRow", "MetaRow", "NodeRow", "APPEND_ONLY_TABLES"]

# SQLite makes a rowid alias only of a column declared exactly INTEGER PRIMARY KEY.
_ID = BigInteger().with_variant(Integer(), "sqlite")


class EntryRow(SQLModel, table=True):
    """One appended record: its canonical bytes and the hashes that bind it."""

    __tablename__ = "ledger_entry"
    seq: int = Field(primary_key=True, sa_type=_ID, sa_column_kwargs={"autoincrement": False})
    # SHA-256 of the caller's idempotency key; unique so a rerun appends nothing twice.
    idem_key: bytes = Field(sa_type=LargeBinary, unique=True)
    canonical: bytes = Field(sa_type=LargeBinary)
    leaf_hash: bytes = Field(sa_type=LargeBinary)
    chain_hash: bytes = Field(sa_type=LargeBinary)
    appended_at: str = Field(sa_type=Text)


class NodeRow(SQLModel, table=True):
    """A complete perfect subtree of the Merkle tree, leaves (level 0) included.

    ``node_id`` is ``merkle.completion_order(level, index)``, so reading the
    table in key order replays the tree in the order appends built it.
    """

    __tablename__ = "ledger_node"
    node_id: int = Field(primary_key=True, sa_type=_ID, sa_column_kwargs={"autoincrement": False})
    hash: bytes = Field(sa_type=LargeBinary)


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


APPEND_ONLY_TABLES = ("ledger_entry", "ledger_node", "ledger_checkpoint", "ledger_meta")
