"""The tamper matrix: one change made directly in the database, caught at its first bad seq.

Each case builds a ledger of 100 realistic audit events in three append
batches (checkpoints at sizes 40, 70 and 100), checks that the untouched
ledger verifies, applies ONE tamper as the database owner would (dropping the
append-only guards first) and asserts that :meth:`Ledger.verify` raises
:class:`IntegrityError` naming exactly the first entry it cannot vouch for.
Every case runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from ledger import IntegrityError, Ledger, Record, Signer, Store, VerifyResult, merkle
from ledger.canonical import canonicalize
from ledger.keys import ROTATION_MEMBER
from ledger.ledger import key_name
from ledger.note import sign_note, split_note
from ledger.tables import APPEND_ONLY_TABLES

ORIGIN = "audit.example.com/agent-workspace"
BATCHES = ((0, 40), (40, 70), (70, 100))
SIZE = 100
OLD_SIZE = 70  # the size a rolled-back store returns to
K = 57  # an entry in the middle of the second batch

ENTRY_COLUMNS = "seq, idem_key, canonical, leaf_hash, chain_hash, tree_nodes, appended_at"
EntryTuple = tuple[int, bytes, bytes, bytes, bytes, bytes, str]

_ACTIONS = (
    ("s3", "GetObject"),
    ("s3", "PutObject"),
    ("iam", "CreateAccessKey"),
    ("ec2", "RunInstances"),
    ("sts", "AssumeRole"),
    ("kms", "Decrypt"),
    ("logs", "PutLogEvents"),
)


def event(i: int) -> dict[str, object]:
    """A CloudTrail-like record of one action by an AI agent."""
    service, name = _ACTIONS[i % len(_ACTIONS)]
    return {
        "eventVersion": "1.09",
        "eventID": f"{i:08x}-7c1e-4d2a-9f3b-{hashlib.sha256(str(i).encode()).hexdigest()[:12]}",
        "eventTime": f"2024-05-14T09:{i // 60 % 60:02d}:{i % 60:02d}Z",
        "eventSource": f"{service}.amazonaws.com",
        "eventName": name,
        "awsRegion": "eu-west-1",
        "sourceIPAddress": f"10.0.{i % 4}.{i % 250 + 1}",
        "userAgent": "agent-runner/2.3 (python 3.11)",
        "userIdentity": {
            "type": "AssumedRole",
            "arn": f"arn:aws:sts::123456789012:assumed-role/agent-runner/agent-{i % 7}",
            "sessionContext": {"mfaAuthenticated": False, "creationDate": "2024-05-14T09:00:00Z"},
        },
        "requestParameters": {"bucketName": "agent-workspace", "key": f"runs/{i // 10}/{i}.json"},
        "readOnly": i % 3 == 0,
        "bytesTransferredIn": i * 37 % 4096,
    }


def records(lo: int, hi: int) -> list[Record]:
    return [Record.of(e, key=str(e["eventID"])) for e in map(event, range(lo, hi))]


# -- direct database access, as the owner of the database ----------------------


class Db:
    """A plain DB-API connection to the store, autocommitting, outside the library."""

    def __init__(self, url: str) -> None:
        self.postgres = Store(url).is_postgres
        self._pg: psycopg.Connection[tuple[Any, ...]] | None = None
        self._lite: sqlite3.Connection | None = None
        if self.postgres:
            self._pg = psycopg.connect(url, autocommit=True)
        else:
            self._lite = sqlite3.connect(url, isolation_level=None)

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        if self._pg is not None:
            cur = self._pg.execute(sql.replace("?", "%s"), tuple(params))
            return cur.fetchall() if cur.description else []
        assert self._lite is not None
        return self._lite.execute(sql, tuple(params)).fetchall()

    def one(self, sql: str, params: Sequence[object] = ()) -> Any:
        (row,) = self.rows(sql, params)
        (value,) = row
        return value

    def many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        if self._pg is not None:
            with self._pg.cursor() as cur:
                cur.executemany(sql.replace("?", "%s"), [tuple(r) for r in rows])
            return
        assert self._lite is not None
        self._lite.executemany(sql, [tuple(r) for r in rows])

    def drop_guards(self) -> None:
        for table in APPEND_ONLY_TABLES:
            if self.postgres:
                self.rows(f"DROP TRIGGER {table}_append_only ON {table}")
                self.rows(f"DROP TRIGGER {table}_no_truncate ON {table}")
            else:
                self.rows(f"DROP TRIGGER {table}_no_update")
                self.rows(f"DROP TRIGGER {table}_no_delete")

    def close(self) -> None:
        if self._pg is not None:
            self._pg.close()
        if self._lite is not None:
            self._lite.close()


@contextmanager
def tampering(url: str) -> Iterator[Db]:
    """The database with its append-only guards dropped."""
    db = Db(url)
    try:
        db.drop_guards()
        yield db
    finally:
        db.close()


def entry_rows(db: Db, where: str = "", params: Sequence[object] = ()) -> list[EntryTuple]:
    rows = db.rows(f"SELECT {ENTRY_COLUMNS} FROM ledger_entry {where} ORDER BY seq", params)
    return [
        (int(r[0]), bytes(r[1]), bytes(r[2]), bytes(r[3]), bytes(r[4]), bytes(r[5]), str(r[6]))
        for r in rows
    ]


def insert_entries(db: Db, rows: Sequence[EntryTuple]) -> None:
    marks = ", ".join("?" * len(ENTRY_COLUMNS.split(",")))
    db.many(f"INSERT INTO ledger_entry ({ENTRY_COLUMNS}) VALUES ({marks})", rows)


def completed_nodes(compact: merkle.CompactRange, leaf: bytes) -> bytes:
    """Append ``leaf``; the interior nodes it completes, as the ``tree_nodes`` column holds them."""
    return b"".join(node for level, _, node in compact.append(leaf) if level > 0)


def tree_before(db: Db, size: int) -> merkle.CompactRange:
    """The compact range of the stored leaves [0, size)."""
    compact = merkle.CompactRange()
    for (leaf,) in db.rows("SELECT leaf_hash FROM ledger_entry WHERE seq < ? ORDER BY seq", [size]):
        compact.append(bytes(leaf))
    assert compact.size == size
    return compact


def rebuild_nodes(db: Db) -> None:
    """A thorough forger: recompute every entry's tree nodes from the stored leaves."""
    compact = merkle.CompactRange()
    for seq, leaf, stored in db.rows(
        "SELECT seq, leaf_hash, tree_nodes FROM ledger_entry ORDER BY seq"
    ):
        nodes = completed_nodes(compact, bytes(leaf))
        if nodes != bytes(stored):
            db.rows("UPDATE ledger_entry SET tree_nodes = ? WHERE seq = ?", [nodes, seq])


def rewrite_entry(db: Db, seq: int, canonical: bytes) -> None:
    """Replace one entry's bytes, recomputing its leaf, its chain hash and the tree."""
    previous = merkle.GENESIS_CHAIN
    if seq:
        previous = bytes(db.one("SELECT chain_hash FROM ledger_entry WHERE seq = ?", [seq - 1]))
    leaf = merkle.leaf_hash(canonical)
    db.rows(
        "UPDATE ledger_entry SET canonical = ?, leaf_hash = ?, chain_hash = ? WHERE seq = ?",
        [canonical, leaf, merkle.chain_hash(previous, leaf), seq],
    )
    rebuild_nodes(db)


def flip(raw: bytes, at: int) -> bytes:
    return raw[:at] + bytes([raw[at] ^ 0x01]) + raw[at + 1 :]


# -- the ledger under test -------------------------------------------------------


@dataclass
class Built:
    ledger: Ledger
    url: str
    home: Path
    tmp: Path
    note_at_end: str  # the signed checkpoint of size SIZE, as an auditor would keep it
    sqlite_copy: Path | None  # SQLite only: a backup-API copy of the store at OLD_SIZE

    @property
    def sqlite_path(self) -> Path:
        assert not self.ledger.store.is_postgres
        return Path(self.url)


def sqlite_backup(source: Path, target: Path) -> None:
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


@pytest.fixture
def built(make_ledger: Callable[..., Ledger], store_url: str, tmp_path: Path) -> Built:
    ledger = make_ledger(ORIGIN)
    copy = None
    for lo, hi in BATCHES:
        result = ledger.append(records(lo, hi))
        assert (result.appended, result.duplicates, result.size) == (hi - lo, 0, hi)
        if hi == OLD_SIZE and not ledger.store.is_postgres:
            copy = tmp_path / "at-old-size.db"
            sqlite_backup(Path(store_url), copy)
    note = ledger.checkpoint().note
    return Built(ledger, store_url, tmp_path / "home", tmp_path, note, copy)


def verify_ok(ledger: Ledger, size: int = SIZE, checkpoints: int = len(BATCHES)) -> VerifyResult:
    result = ledger.verify()
    assert (result.size, result.checkpoints) == (size, checkpoints)
    return result


# -- the tampers -----------------------------------------------------------------

Verify = Callable[[], object]


def t_canonical_byte(b: Built) -> Verify:
    with tampering(b.url) as db:
        canonical = bytes(db.one("SELECT canonical FROM ledger_entry WHERE seq = ?", [K]))
        at = canonical.index(b"agent-runner")
        changed = flip(canonical, at)
        assert len(changed) == len(canonical) and changed != canonical
        db.rows("UPDATE ledger_entry SET canonical = ? WHERE seq = ?", [changed, K])
    return b.ledger.verify


def _set_hash(column: str) -> Callable[[Built], Verify]:
    def tamper(b: Built) -> Verify:
        with tampering(b.url) as db:
            old = bytes(db.one(f"SELECT {column} FROM ledger_entry WHERE seq = ?", [K]))
            db.rows(f"UPDATE ledger_entry SET {column} = ? WHERE seq = ?", [flip(old, 31), K])
        return b.ledger.verify

    return tamper


def _set_node(level: int, index: int) -> Callable[[Built], Verify]:
    """Change the stored hash of the perfect subtree (level, index), level >= 1.

    It is kept in the ``tree_nodes`` of the entry that completes it (its last leaf).
    """

    def tamper(b: Built) -> Verify:
        first, last = index << level, ((index + 1) << level) - 1
        at = (level - 1) * merkle.HASH_SIZE
        with tampering(b.url) as db:
            subtree = merkle.CompactRange()
            for (leaf,) in db.rows(
                "SELECT leaf_hash FROM ledger_entry WHERE seq BETWEEN ? AND ? ORDER BY seq",
                [first, last],
            ):
                subtree.append(bytes(leaf))
            old = bytes(db.one("SELECT tree_nodes FROM ledger_entry WHERE seq = ?", [last]))
            assert old[at : at + merkle.HASH_SIZE] == subtree.root()
            db.rows(
                "UPDATE ledger_entry SET tree_nodes = ? WHERE seq = ?", [flip(old, at + 7), last]
            )
        return b.ledger.verify

    return tamper


def t_delete_middle(b: Built) -> Verify:
    with tampering(b.url) as db:
        db.rows("DELETE FROM ledger_entry WHERE seq = ?", [K])
        assert db.one("SELECT count(*) FROM ledger_entry") == SIZE - 1
    return b.ledger.verify


SWAP = (23, 81)


def t_swap_rows(b: Built) -> Verify:
    i, j = SWAP
    with tampering(b.url) as db:
        (row_i,) = entry_rows(db, "WHERE seq = ?", [i])
        (row_j,) = entry_rows(db, "WHERE seq = ?", [j])
        db.rows("DELETE FROM ledger_entry WHERE seq IN (?, ?)", [i, j])
        insert_entries(db, [(i, *row_j[1:]), (j, *row_i[1:])])
    return b.ledger.verify


def forged_entry(db: Db, seq: int) -> EntryTuple:
    """A new entry for position ``seq`` whose leaf, chain hash and tree nodes are right."""
    canonical = canonicalize(event(10_000) | {"eventName": "StopLogging"})
    leaf = merkle.leaf_hash(canonical)
    previous = merkle.GENESIS_CHAIN
    if seq:
        previous = bytes(db.one("SELECT chain_hash FROM ledger_entry WHERE seq = ?", [seq - 1]))
    nodes = completed_nodes(tree_before(db, seq), leaf)
    key = hashlib.sha256(b"forged").digest()
    chain = merkle.chain_hash(previous, leaf)
    return (seq, key, canonical, leaf, chain, nodes, "2024-05-14T10:00:00.000000Z")


def t_forge_at_end(b: Built) -> Verify:
    """Entry, chain hash and Merkle nodes all right; only no signed checkpoint covers it."""
    with tampering(b.url) as db:
        insert_entries(db, [forged_entry(db, SIZE)])
    return b.ledger.verify


def t_forge_in_middle(b: Built) -> Verify:
    """Later rows renumbered up by one; the forged row's leaf, chain and nodes are right."""
    with tampering(b.url) as db:
        later = entry_rows(db, "WHERE seq >= ?", [K])
        forged = forged_entry(db, K)
        db.rows("DELETE FROM ledger_entry WHERE seq >= ?", [K])
        insert_entries(db, [forged] + [(r[0] + 1, *r[1:]) for r in later])
        assert db.one("SELECT count(*) FROM ledger_entry") == SIZE + 1
    return b.ledger.verify


def t_forge_in_middle_rechained(b: Built) -> Verify:
    """As above, and every later chain hash and tree node recomputed: only signatures remain."""
    with tampering(b.url) as db:
        later = entry_rows(db, "WHERE seq >= ?", [K])
        forged = forged_entry(db, K)
        db.rows("DELETE FROM ledger_entry WHERE seq >= ?", [K])
        compact = tree_before(db, K)
        compact.append(forged[3])
        rows, chain = [forged], forged[4]
        for seq, key, canonical, leaf, _, _, at in later:
            chain = merkle.chain_hash(chain, leaf)
            rows.append((seq + 1, key, canonical, leaf, chain, completed_nodes(compact, leaf), at))
        insert_entries(db, rows)
    return b.ledger.verify


TRUNCATED = 90


def t_truncate_entries(b: Built) -> Verify:
    with tampering(b.url) as db:
        db.rows("DELETE FROM ledger_entry WHERE seq >= ?", [TRUNCATED])
    return b.ledger.verify


def _cut_back(db: Db, size: int) -> None:
    """Delete everything that appends beyond ``size`` wrote (ledger_meta has none)."""
    db.rows("DELETE FROM ledger_entry WHERE seq >= ?", [size])
    db.rows("DELETE FROM ledger_checkpoint WHERE size > ?", [size])


def t_truncate_thoroughly(b: Built) -> Verify:
    """Entries and the checkpoints after them removed: the home's witness catches it."""
    with tampering(b.url) as db:
        _cut_back(db, TRUNCATED)
    return b.ledger.verify


def roll_back(b: Built) -> None:
    if b.ledger.store.is_postgres:
        with tampering(b.url) as db:
            _cut_back(db, OLD_SIZE)
    else:
        assert b.sqlite_copy is not None
        sqlite_backup(b.sqlite_copy, b.sqlite_path)
    with b.ledger.store.reader() as r:
        assert r.size() == OLD_SIZE
        head = r.latest_checkpoint()
        assert head is not None and head.size == OLD_SIZE


def fresh_home(b: Built) -> Ledger:
    """A home with only the keys (no witness), on the same store."""
    home = b.tmp / "fresh-home"
    shutil.copytree(b.home / "keys", home / "keys")
    assert not (home / "witness").exists()
    return Ledger(Store(b.url), home)


def t_rollback_witness(b: Built) -> Verify:
    roll_back(b)
    return b.ledger.verify


def t_rollback_external_note(b: Built) -> Verify:
    roll_back(b)
    ledger = fresh_home(b)
    # Without the note, a consistent older store cannot be told from a young one.
    assert ledger.verify().size == OLD_SIZE
    return lambda: ledger.verify(external_notes=[b.note_at_end])


def t_fork_same_size(b: Built) -> Verify:
    """Rolled back, then re-grown to the same size with other entries, by a writer with the key.

    Every stored checkpoint is validly signed; only the witness of the first history shows the
    fork (the append keeps it, as it is not older than the new head).
    """
    roll_back(b)
    other = [Record.of(event(i) | {"eventName": "DeleteBucket"}) for i in range(OLD_SIZE, SIZE)]
    assert b.ledger.append(other).size == SIZE
    fresh = fresh_home(b)
    assert fresh.verify().size == SIZE  # nothing in the store itself shows the fork
    with pytest.raises(IntegrityError) as external:
        fresh.verify(external_notes=[b.note_at_end])
    assert (external.value.seq, "differs" in external.value.reason) == (0, True)
    return b.ledger.verify


def t_resign_checkpoints(b: Built) -> Verify:
    """A new key of the same name re-signs every stored checkpoint note."""
    attacker = Signer.generate(key_name(ORIGIN))
    assert attacker.name == b.ledger.keys.signer().name
    with tampering(b.url) as db:
        for cid, note in db.rows("SELECT id, note FROM ledger_checkpoint"):
            body, _ = split_note(note)
            db.rows(
                "UPDATE ledger_checkpoint SET note = ? WHERE id = ?",
                [sign_note(body, [attacker]), cid],
            )
    return b.ledger.verify


def _swap_home_key(b: Built, keep_anchor: bool) -> Signer:
    """Put the attacker's private key (and key ring) into the home, then append with it."""
    keys = b.home / "keys"
    original = b.ledger.keys.signer()
    attacker = Signer.generate(original.name)
    listed = [original.verifier.encode()] if keep_anchor else []
    if not keep_anchor:
        (keys / f"{original.verifier.key_id.hex()}.key").unlink()
    (keys / f"{attacker.verifier.key_id.hex()}.key").write_text(attacker.encode() + "\n")
    listed.append(attacker.verifier.encode())
    (keys / "keyring.json").write_text(json.dumps({"keys": listed}))
    assert b.ledger.keys.signer() == attacker
    assert b.ledger.append(records(SIZE, SIZE + 10)).size == SIZE + 10
    return original


def t_swap_home_key(b: Built) -> Verify:
    """Key file and ring replaced; the auditor verifies against the original public key."""
    original = _swap_home_key(b, keep_anchor=False).verifier
    with pytest.raises(IntegrityError) as trusted_home:
        b.ledger.verify()  # the home now names the attacker's key as its anchor
    assert trusted_home.value.seq == 0
    return lambda: b.ledger.verify(anchors=[original])


def t_add_home_key(b: Built) -> Verify:
    """The attacker's key added to the ring as 'current' without a rotation entry."""
    _swap_home_key(b, keep_anchor=True)
    return b.ledger.verify


def t_checkpoint_root_column(b: Built) -> Verify:
    with tampering(b.url) as db:
        root = bytes(db.one("SELECT root FROM ledger_checkpoint WHERE size = ?", [OLD_SIZE]))
        db.rows("UPDATE ledger_checkpoint SET root = ? WHERE size = ?", [flip(root, 5), OLD_SIZE])
    return b.ledger.verify


def t_rename_origin(b: Built) -> Verify:
    with tampering(b.url) as db:
        db.rows("UPDATE ledger_meta SET value = ? WHERE name = 'origin'", [ORIGIN + "2"])
    return b.ledger.verify


@dataclass(frozen=True)
class Case:
    name: str
    tamper: Callable[[Built], Verify]
    seq: int
    keyword: str


INTERIOR = (4, 2)  # the perfect subtree over leaves [32, 48), completed by leaf 47

CASES = [
    Case("canonical-one-byte", t_canonical_byte, K, "leaf hash"),
    Case("leaf-hash", _set_hash("leaf_hash"), K, "leaf hash"),
    Case("chain-hash", _set_hash("chain_hash"), K, "chain hash"),
    Case("merkle-node-level-1", _set_node(1, K >> 1), K, "merkle tree nodes"),
    Case("merkle-node-level-4", _set_node(*INTERIOR), ((2 + 1) << 4) - 1, "merkle tree nodes"),
    Case("delete-middle-entry", t_delete_middle, K, "missing"),
    Case("swap-two-rows", t_swap_rows, SWAP[0], "chain hash"),
    Case("forged-entry-at-end", t_forge_at_end, SIZE, "not signed"),
    Case("forged-entry-in-middle", t_forge_in_middle, K, "inserted"),
    # Locally consistent: the first checkpoint after K (size 70) fails, so the first
    # entry no valid checkpoint vouches for is the previous checkpoint's size, 40.
    Case("forged-in-middle-rechained", t_forge_in_middle_rechained, 40, "root"),
    Case("truncate-tail-entries", t_truncate_entries, TRUNCATED, "truncation"),
    Case("truncate-tail-all-tables", t_truncate_thoroughly, TRUNCATED, "truncated"),
    Case("rollback-home-witness", t_rollback_witness, OLD_SIZE, "rolled back"),
    Case("rollback-external-note", t_rollback_external_note, OLD_SIZE, "rolled back"),
    # The tree at size 100 differs from the witnessed one; nothing before it is vouched for.
    Case("fork-same-size", t_fork_same_size, 0, "differs"),
    Case("resign-checkpoints-new-key", t_resign_checkpoints, 0, "trusted key"),
    Case("swap-home-key-then-append", t_swap_home_key, SIZE, "trusted key"),
    Case("add-home-key-then-append", t_add_home_key, SIZE, "trusted key"),
    Case("checkpoint-root-column", t_checkpoint_root_column, 40, "disagrees"),
    Case("rename-origin", t_rename_origin, 0, "origin"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_tamper_is_caught_at_first_bad_seq(built: Built, case: Case) -> None:
    verify_ok(built.ledger)  # no false positive on the untouched ledger
    verify = case.tamper(built)
    with pytest.raises(IntegrityError) as caught:
        verify()
    assert caught.value.seq == case.seq, caught.value.reason
    assert case.keyword in caught.value.reason.lower()


def test_rewritten_entry_with_recomputed_hashes_is_caught_where_the_chain_breaks(
    built: Built,
) -> None:
    """A forger rewrites entry K and recomputes its leaf, chain hash and tree nodes.

    Entry K is then consistent with everything before it; the first stored
    evidence it contradicts is entry K+1's chain hash. The rows cannot tell
    this apart from K+1's chain hash being edited (every later tree node over K
    also covers K+1), so verify names K+1, the first entry it cannot vouch for.
    """
    verify_ok(built.ledger)
    with tampering(built.url) as db:
        canonical = bytes(db.one("SELECT canonical FROM ledger_entry WHERE seq = ?", [K]))
        rewrite_entry(db, K, canonical.replace(b'"PutObject"', b'"GetObject"'))
    with pytest.raises(IntegrityError) as caught:
        built.ledger.verify()
    assert caught.value.seq == K + 1, caught.value.reason
    assert "chain hash" in caught.value.reason


# -- key rotation ------------------------------------------------------------------


def rotate_and_append(b: Built) -> tuple[int, Signer, Signer]:
    """Rotate the key properly, then append 20 more; return (rotation seq, old, new)."""
    old = b.ledger.keys.signer()
    new_verifier = b.ledger.rotate_key()
    new = b.ledger.keys.signer()
    assert new.verifier == new_verifier != old.verifier
    result = b.ledger.append(records(SIZE, SIZE + 20))
    assert (result.appended, result.size) == (20, SIZE + 21)
    return SIZE, old, new


def test_proper_rotation_verifies(built: Built) -> None:
    seq, old, new = rotate_and_append(built)
    with built.ledger.store.reader() as r:
        entry = r.entry(seq)
        rotation = r.checkpoint_at(seq + 1)
        head = r.checkpoint_at(SIZE + 21)
    assert entry is not None and ROTATION_MEMBER.encode() in entry.canonical
    # The checkpoint that includes the rotation carries both keys; later ones the new key.
    assert rotation is not None and len(split_note(rotation.note)[1]) == 2
    assert head is not None
    assert [s.key_id for s in split_note(head.note)[1]] == [new.verifier.key_id]
    result = built.ledger.verify()
    assert (result.size, result.checkpoints) == (SIZE + 21, len(BATCHES) + 2)
    assert result.keys == [old.verifier, new.verifier]
    # An auditor holding only the original public key follows the rotation too.
    assert built.ledger.verify(anchors=[old.verifier]).size == SIZE + 21


def test_rotation_with_corrupted_signature_is_caught(built: Built) -> None:
    seq, _, _ = rotate_and_append(built)
    verify_ok(built.ledger, SIZE + 21, len(BATCHES) + 2)
    with tampering(built.url) as db:
        entry = orjson.loads(db.one("SELECT canonical FROM ledger_entry WHERE seq = ?", [seq]))
        signature = base64.b64decode(entry[ROTATION_MEMBER]["signature"])
        entry[ROTATION_MEMBER]["signature"] = base64.b64encode(flip(signature, 10)).decode()
        # A careful forger: the entry's leaf, chain hash and Merkle nodes all match it.
        rewrite_entry(db, seq, canonicalize(entry))
    with pytest.raises(IntegrityError) as caught:
        built.ledger.verify()
    assert caught.value.seq == seq, caught.value.reason
    assert "rotation" in caught.value.reason and "signature" in caught.value.reason


# -- the append-only guards ------------------------------------------------------


# A column to rewrite in each table, and a row to aim at.
GUARD_TARGETS = {
    "ledger_entry": ("chain_hash", "seq = 5"),
    "ledger_checkpoint": ("note", "size = 40"),
    "ledger_meta": ("value", "name = 'origin'"),
}


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_guards_refuse_update_delete_truncate(built: Built, table: str) -> None:
    column, where = GUARD_TARGETS[table]
    db = Db(built.url)
    try:
        before = db.rows(f"SELECT * FROM {table} ORDER BY 1")
        assert before
        statements = [
            f"UPDATE {table} SET {column} = {column} WHERE {where}",
            f"UPDATE {table} SET {column} = {column}",
            f"DELETE FROM {table} WHERE {where}",
            f"DELETE FROM {table}",
        ]
        refused: tuple[type[Exception], ...] = (sqlite3.IntegrityError,)
        if db.postgres:
            statements.append(f"TRUNCATE {table}")
            refused = (psycopg.errors.InsufficientPrivilege,)
        for statement in statements:
            with pytest.raises(refused, match="append-only"):
                db.rows(statement)
        assert db.rows(f"SELECT * FROM {table} ORDER BY 1") == before
    finally:
        db.close()
    verify_ok(built.ledger)


def test_guards_cover_every_table(built: Built) -> None:
    assert set(GUARD_TARGETS) == set(APPEND_ONLY_TABLES)
    db = Db(built.url)
    try:
        if db.postgres:
            names = db.rows(
                "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace"
            )
            expected = {
                f"{t}_{g}" for t in APPEND_ONLY_TABLES for g in ("append_only", "no_truncate")
            }
        else:
            names = db.rows("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            expected = {f"{t}_no_{op}" for t in APPEND_ONLY_TABLES for op in ("update", "delete")}
    finally:
        db.close()
    assert {name for (name,) in names} == expected


# -- the command line --------------------------------------------------------------


def cli_verify(b: Built) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "vestige", "--home", str(b.home), "--db", b.url, "verify", "--json"],
        capture_output=True,
        cwd=b.tmp,
        timeout=60,
        check=False,
    )
    document = json.loads(done.stdout)
    assert isinstance(document, dict), done.stderr
    return done.returncode, document


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_cli_verify_json(built: Built) -> None:
    code, document = cli_verify(built)
    assert code == 0
    assert document["ok"] is True
    assert (document["size"], document["checkpoints"]) == (SIZE, len(BATCHES))
    assert document["root"] == base64.b64encode(built.ledger.verify().root).decode()
    t_canonical_byte(built)
    code, document = cli_verify(built)
    assert code == 1
    assert set(document) == {"ok", "first_bad_seq", "reason"}
    assert document["ok"] is False
    assert document["first_bad_seq"] == K
    assert "leaf hash" in document["reason"]
