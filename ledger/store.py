"""Storage of the ledger on SQLite (embedded default, WAL) or PostgreSQL.

The schema comes from :mod:`ledger.tables`; the hot paths (batch inserts,
streaming reads) talk to the DB driver directly, always with bound parameters.

Writers serialize on one lock so the chain stays linear across processes:
SQLite ``BEGIN IMMEDIATE``; PostgreSQL ``LOCK TABLE ... SHARE ROW EXCLUSIVE``
(which conflicts with itself and with inserts, not with readers). Verify reads
one snapshot (a deferred SQLite read transaction; PostgreSQL REPEATABLE READ);
proofs read without one, since stored rows never change.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import sqlalchemy
from sqlalchemy import event
from sqlmodel import SQLModel

from ledger import merkle
from ledger.erasure import TOMBSTONE_PREFIX
from ledger.tables import APPEND_ONLY_TABLES, CheckpointRow, EntryRow, MetaRow

__all__ = ["Entry", "Store", "StoredCheckpoint"]

_TABLES = [SQLModel.metadata.tables[name] for name in APPEND_ONLY_TABLES]
_ENTRY_COLUMNS = "seq, idem_key, canonical, leaf_hash, chain_hash, tree_nodes, appended_at"
_STREAM_CHUNK = 20_000


@dataclass(frozen=True)
class Entry:
    seq: int
    canonical: bytes
    leaf_hash: bytes
    chain_hash: bytes
    appended_at: str


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str
    created_at: str


# Our policy: the ledger tables are append-only at the database level, so even a
# writer with table privileges cannot rewrite history unnoticed without first
# dropping these triggers (which needs the table owner). The one UPDATE allowed is
# an erasure's: an entry's canonical bytes, not yet a tombstone, replaced by one,
# every other column unchanged (verify then demands a signed erasure entry for it).
_REFUSED = "the ledger is append-only"
_ENTRY = EntryRow.__tablename__
_KEPT_COLUMNS = [c.name for c in SQLModel.metadata.tables[_ENTRY].columns if c.name != "canonical"]
_TOMBSTONE_SQL = "'" + TOMBSTONE_PREFIX.decode() + "'"  # plain ASCII, no quote inside


def _pg_guard_sql() -> list[str]:
    prefix = f"convert_to({_TOMBSTONE_SQL}, 'UTF8')"
    head = f"substring(%s.canonical from 1 for {len(TOMBSTONE_PREFIX)})"
    sql = [
        f"""CREATE OR REPLACE FUNCTION vestige_refuse_change() RETURNS trigger
           LANGUAGE plpgsql AS $$
           BEGIN
             RAISE EXCEPTION 'vestige: % on % refused: {_REFUSED}',
               TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
           END $$""",
        f"""CREATE OR REPLACE FUNCTION vestige_refuse_entry_change() RETURNS trigger
           LANGUAGE plpgsql AS $$
           BEGIN
             IF TG_OP = 'UPDATE'
                AND {head % "NEW"} = {prefix}
                AND {head % "OLD"} IS DISTINCT FROM {prefix}
                AND (to_jsonb(NEW) - 'canonical') = (to_jsonb(OLD) - 'canonical') THEN
               RETURN NEW;
             END IF;
             RAISE EXCEPTION 'vestige: % on % refused: {_REFUSED}',
               TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
           END $$""",
    ]
    for table in APPEND_ONLY_TABLES:
        refuse = "vestige_refuse_entry_change" if table == _ENTRY else "vestige_refuse_change"
        sql += [
            f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {refuse}()",
            f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION vestige_refuse_change()",
        ]
    return sql


def _sqlite_erasure_only() -> str:
    """The WHEN clause refusing every UPDATE of an entry but an erasure's."""
    prefix = f"CAST({_TOMBSTONE_SQL} AS BLOB)"
    head = f"substr(CAST(%s.canonical AS BLOB), 1, {len(TOMBSTONE_PREFIX)})"
    kept = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in _KEPT_COLUMNS)
    return f"WHEN NOT ({head % 'NEW'} = {prefix} AND {head % 'OLD'} IS NOT {prefix} AND {kept}) "


def _sqlite_guard_sql() -> list[str]:
    sql = []
    for table in APPEND_ONLY_TABLES:
        for op in ("UPDATE", "DELETE"):
            name = f"{table}_no_{op.lower()}"
            when = _sqlite_erasure_only() if (table, op) == (_ENTRY, "UPDATE") else ""
            sql += [
                # Dropped and made again, so an older store gets the current guards.
                f"DROP TRIGGER IF EXISTS {name}",
                f"CREATE TRIGGER {name} BEFORE {op} ON {table} {when}"
                f"BEGIN SELECT RAISE(ABORT, 'vestige: {op} on {table} refused: {_REFUSED}'); END",
            ]
    return sql


class Store:
    """One ledger's tables in one database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_postgres = url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://"))
        self.path = None if self.is_postgres else Path(url.removeprefix("sqlite:///"))
        if self.path is None:
            sa_url = "postgresql+psycopg://" + url.split("://", 1)[1]
            self.engine = sqlalchemy.create_engine(sa_url)
        else:
            self.engine = sqlalchemy.create_engine(
                f"sqlite:///{self.path}", connect_args={"timeout": 120, "isolation_level": None}
            )
            event.listen(self.engine, "connect", _sqlite_pragmas)

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.is_postgres else text

    # -- schema -------------------------------------------------------------

    def create(self) -> None:
        """Create tables and append-only guards; safe to run again."""
        guards = _pg_guard_sql() if self.is_postgres else _sqlite_guard_sql()
        with self.engine.connect() as conn:
            # Serialize concurrent `init`s: neither CREATE TABLE after an existence check
            # nor CREATE OR REPLACE is safe against a second process doing the same.
            # (A plain DB-API cursor: the guards' bodies contain '%', which SQLAlchemy's
            # parameter style would take for placeholders.)
            cur = conn.connection.cursor()
            if self.is_postgres:
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema()))")
            else:
                cur.execute("BEGIN IMMEDIATE")
            SQLModel.metadata.create_all(conn, tables=_TABLES)
            for statement in guards:
                cur.execute(statement)
            conn.commit()
        if self.path is not None:
            # The evidence is for its owner only, like the keys; SQLite gives the -wal
            # and -shm files it creates later the database file's mode.
            for path in (
                self.path,
                *(self.path.with_name(self.path.name + s) for s in ("-wal", "-shm")),
            ):
                if path.exists():
                    os.chmod(path, 0o600)

    def create_side_tables(self, tables: Sequence[Any], lock: str) -> None:
        """Create a later stage's own tables (not evidence) if absent, safely when several
        processes start at once: serialized on the advisory lock ``lock`` / BEGIN IMMEDIATE."""
        with self.transaction() as conn:
            if self.is_postgres:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(hashtext(:lock))"),
                             {"lock": lock})  # fmt: skip
            SQLModel.metadata.create_all(conn, tables=tables)

    @contextmanager
    def transaction(self) -> Iterator[sqlalchemy.Connection]:
        """A SQLAlchemy transaction for a later stage's own tables; commits on success.

        The ledger's SQLite connections run in driver autocommit (it issues its own
        BEGIN IMMEDIATE), so begin explicitly: otherwise every row would be its own commit.
        """
        with self.engine.connect() as conn:
            if not self.is_postgres:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def flush_erased(self) -> bool:
        """After an erasure, push it out of SQLite's write-ahead log and empty the log, so
        no older copy of a page holding the removed bytes remains in it. False if a
        reader kept the log from being emptied (run it again later). PostgreSQL keeps
        dead row versions until VACUUM, and its WAL and backups hold what they held:
        the operator's to purge (README, "Erasure")."""
        if self.path is None:
            return True
        with self._connection() as conn:
            busy = conn.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        return not busy

    def exists(self) -> bool:
        if self.path is not None and not self.path.exists():
            return False  # connecting would create an empty file
        return sqlalchemy.inspect(self.engine).has_table(EntryRow.__tablename__)

    # -- connections --------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        conn = self.engine.raw_connection()
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def writer(self) -> Iterator[Writer]:
        """A transaction holding the ledger's write lock; commits on success."""
        with self._connection() as conn:
            cur = conn.cursor()
            if self.is_postgres:
                cur.execute(f"LOCK TABLE {EntryRow.__tablename__} IN SHARE ROW EXCLUSIVE MODE")
            else:
                cur.execute("BEGIN IMMEDIATE")
            try:
                yield Writer(self, cur)
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    @contextmanager
    def reader(self, snapshot: bool = True) -> Iterator[Reader]:
        """Read-only access: one snapshot of the ledger, or (cheaper) none."""
        with self._connection() as conn:
            if self.is_postgres and not snapshot:
                conn.autocommit = True  # no BEGIN/ROLLBACK round trips
            elif self.is_postgres:
                conn.cursor().execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            elif snapshot:
                conn.cursor().execute("BEGIN")
            try:
                yield Reader(self, conn)
            finally:
                conn.rollback()
                if self.is_postgres:
                    conn.autocommit = False


def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # FULL: a committed batch survives power loss, not just a process crash.
    cur.execute("PRAGMA synchronous=FULL")
    # Proofs read scattered rows: map the file instead of a read() per page.
    cur.execute("PRAGMA mmap_size=1073741824")
    cur.close()


class Reader:
    """Queries over one snapshot."""

    def __init__(self, store: Store, conn: Any) -> None:
        self._store = store
        self._conn = conn
        self._cur = conn.cursor()

    def _one(self, sql: str, params: Sequence[object] = ()) -> Any:
        self._cur.execute(self._store._sql(sql), tuple(params))
        return self._cur.fetchone()

    def meta(self, name: str) -> str | None:
        row = self._one(f"SELECT value FROM {MetaRow.__tablename__} WHERE name = ?", [name])
        return None if row is None else str(row[0])

    def size(self) -> int:
        row = self._one(f"SELECT max(seq) FROM {EntryRow.__tablename__}")
        return 0 if row[0] is None else int(row[0]) + 1

    def chain_head(self) -> bytes:
        row = self._one(
            f"SELECT chain_hash FROM {EntryRow.__tablename__} ORDER BY seq DESC LIMIT 1"
        )
        return merkle.GENESIS_CHAIN if row is None else bytes(row[0])

    def entry(self, seq: int) -> Entry | None:
        row = self._one(
            "SELECT seq, canonical, leaf_hash, chain_hash, appended_at "
            f"FROM {EntryRow.__tablename__} WHERE seq = ?",
            [seq],
        )
        return (
            None
            if row is None
            else Entry(row[0], bytes(row[1]), bytes(row[2]), bytes(row[3]), row[4])
        )

    def nodes(self, keys: Iterable[merkle.NodeKey]) -> dict[merkle.NodeKey, bytes]:
        """Stored hashes of the given perfect subtrees (missing ones are absent)."""
        wanted: dict[int, list[merkle.NodeKey]] = {}
        for level, index in keys:
            wanted.setdefault(((index + 1) << level) - 1, []).append((level, index))
        found: dict[merkle.NodeKey, bytes] = {}
        for seq, leaf, tree_nodes in self._select_in("seq, leaf_hash, tree_nodes", "seq", wanted):
            for level, index in wanted[seq]:
                node = (
                    bytes(leaf) if level == 0 else bytes(tree_nodes[(level - 1) * 32 : level * 32])
                )
                if len(node) == merkle.HASH_SIZE:
                    found[(level, index)] = node
        return found

    def _select_in(self, columns: str, key: str, values: Iterable[Any]) -> list[Any]:
        """Entry rows whose ``key`` is among ``values``, in bounded-size IN lists."""
        values = list(values)
        rows: list[Any] = []
        for start in range(0, len(values), 500):
            chunk = values[start : start + 500]
            marks = ",".join("?" * len(chunk))
            self._cur.execute(
                self._store._sql(
                    f"SELECT {columns} FROM {EntryRow.__tablename__} WHERE {key} IN ({marks})"
                ),
                tuple(chunk),
            )
            rows += self._cur.fetchall()
        return rows

    def checkpoints(self) -> list[StoredCheckpoint]:
        self._cur.execute(
            f"SELECT size, root, note, created_at FROM {CheckpointRow.__tablename__} "
            "ORDER BY size, id"
        )
        return [StoredCheckpoint(r[0], bytes(r[1]), r[2], r[3]) for r in self._cur.fetchall()]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        row = self._one(
            f"SELECT size, root, note, created_at FROM {CheckpointRow.__tablename__} "
            "ORDER BY size DESC, id DESC LIMIT 1"
        )
        return None if row is None else StoredCheckpoint(row[0], bytes(row[1]), row[2], row[3])

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        row = self._one(
            f"SELECT size, root, note, created_at FROM {CheckpointRow.__tablename__} "
            "WHERE size = ? ORDER BY id DESC LIMIT 1",
            [size],
        )
        return None if row is None else StoredCheckpoint(row[0], bytes(row[1]), row[2], row[3])

    def entries_by_key(self, keys: Iterable[bytes]) -> dict[bytes, tuple[int, bytes]]:
        """(seq, canonical) of the entries stored under the given idempotency keys."""
        rows = self._select_in("idem_key, seq, canonical", "idem_key", keys)
        return {bytes(key): (int(seq), bytes(canonical)) for key, seq, canonical in rows}

    def canonicals(self, seqs: Iterable[int]) -> dict[int, bytes]:
        """Canonical bytes of the given entries (missing ones are absent)."""
        return {int(s): bytes(c) for s, c in self._select_in("seq, canonical", "seq", seqs)}

    def stream_canonical(self, after: int) -> Iterator[tuple[int, bytes]]:
        """(seq, canonical) of every entry past ``after``, by seq, in bounded memory."""
        sql = f"SELECT seq, canonical FROM {EntryRow.__tablename__} WHERE seq > ? ORDER BY seq"
        return cast(Iterator[tuple[int, bytes]], self._stream(sql, (after,)))

    def _stream(self, sql: str, params: tuple[object, ...] = ()) -> Iterator[Any]:
        if self._store.is_postgres:
            cur = self._conn.cursor(name="vestige_stream")
            cur.itersize = _STREAM_CHUNK
        else:
            cur = self._conn.cursor()
        cur.execute(self._store._sql(sql), params)
        return iter(cur)

    def stream_entries(self) -> Iterator[tuple[int, bytes, bytes, bytes, bytes]]:
        """(seq, canonical, leaf_hash, chain_hash, tree_nodes) by seq, in bounded memory.

        The cursor itself is the iterator (no Python layer per row): SQLite
        steps through the result; PostgreSQL uses a server-side cursor.
        """
        sql = (
            "SELECT seq, canonical, leaf_hash, chain_hash, tree_nodes "
            f"FROM {EntryRow.__tablename__} ORDER BY seq"
        )
        return cast(Iterator[tuple[int, bytes, bytes, bytes, bytes]], self._stream(sql))


class Writer(Reader):
    """Inserts inside the locked write transaction of :meth:`Store.writer`."""

    def __init__(self, store: Store, cur: Any) -> None:
        self._store = store
        self._conn = cur.connection
        self._cur = cur

    def existing_keys(self, keys: Sequence[bytes]) -> set[bytes]:
        return {bytes(row[0]) for row in self._select_in("idem_key", "idem_key", keys)}

    def insert_entries(
        self, rows: Sequence[tuple[int, bytes, bytes, bytes, bytes, bytes, str]]
    ) -> None:
        """Rows of (seq, idem_key, canonical, leaf_hash, chain_hash, tree_nodes, appended_at)."""
        self._insert(EntryRow.__tablename__, _ENTRY_COLUMNS, rows)

    def insert_checkpoint(self, size: int, root: bytes, note: str, created_at: str) -> None:
        self._cur.execute(
            self._store._sql(
                f"INSERT INTO {CheckpointRow.__tablename__} (size, root, note, created_at) "
                "VALUES (?, ?, ?, ?)"
            ),
            (size, root, note, created_at),
        )

    def set_meta(self, name: str, value: str) -> None:
        self._cur.execute(
            self._store._sql(f"INSERT INTO {MetaRow.__tablename__} (name, value) VALUES (?, ?)"),
            (name, value),
        )

    def erase_canonical(self, seq: int, tombstone: bytes) -> None:
        """Overwrite entry ``seq``'s bytes by its tombstone: the one UPDATE the guards allow."""
        lite = not self._store.is_postgres
        if lite:
            # Zero the removed bytes in the file instead of leaving them in a freed cell.
            self._cur.execute("PRAGMA secure_delete = ON")
        self._cur.execute(
            self._store._sql(f"UPDATE {_ENTRY} SET canonical = ? WHERE seq = ?"), (tombstone, seq)
        )
        if lite:
            self._cur.execute("PRAGMA secure_delete = OFF")

    def _insert(self, table: str, columns: str, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self._store.is_postgres:
            with self._cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ",".join("?" * len(rows[0]))
            self._cur.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)


def is_unique_violation(exc: BaseException) -> bool:
    """Did an insert collide with an existing idempotency key?"""
    if isinstance(exc, sqlite3.IntegrityError):
        return "UNIQUE" in str(exc)
    return getattr(exc, "sqlstate", None) == "23505"
