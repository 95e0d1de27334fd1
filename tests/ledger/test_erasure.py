"""Erasure: a tombstone in place of an entry's bytes, only under a signed erasure entry.

Built on the tamper matrix's ledger (100 audit events, checkpoints at 40, 70, 100),
on SQLite and on PostgreSQL. Bad erasures are made as an operator holding the
signing key could make them: appended through the ledger, the tombstone written
through the one UPDATE the database guards allow.
"""

from __future__ import annotations

import base64
import hashlib
import sqlite3
from pathlib import Path

import orjson
import psycopg
import pytest

from ledger import (
    InputError,
    IntegrityError,
    Ledger,
    Record,
    Signer,
    Store,
    VestigeError,
    canonicalize,
    merkle,
    verify_inclusion_proof,
)
from ledger.erasure import ERASURE_MEMBER, RESERVED_MEMBERS, Tombstone, erasure_entry
from ledger.ledger import key_name
from ledger.tables import APPEND_ONLY_TABLES
from tests.ledger import test_tamper
from tests.ledger.test_tamper import (
    BATCHES,
    ORIGIN,
    SIZE,
    Built,
    Db,
    event,
    flip,
    rewrite_entry,
    tampering,
    verify_ok,
)

built = test_tamper.built  # the tamper matrix's ledger, as a fixture here too
K = 57  # the entry erased
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLESECRETKEY"  # noqa: S105  # a test value


def canonical_at(b: Built, seq: int) -> bytes:
    with b.ledger.store.reader() as r:
        entry = r.entry(seq)
    assert entry is not None
    return entry.canonical


def write_tombstone(b: Built, seq: int, tombstone: bytes) -> None:
    """Through the database guards, as any writer with table privileges could."""
    db = Db(b.url)
    try:
        db.rows("UPDATE ledger_entry SET canonical = ? WHERE seq = ?", [tombstone, seq])
    finally:
        db.close()


def append_erasure(b: Built, canonical: bytes) -> int:
    """Append an erasure entry as the key holder could: a normal, checkpointed entry."""
    (appended,) = b.ledger.append_batch([Record.keyed(canonical)])
    assert appended.canonical == canonical
    return b.ledger.checkpoint().size - 1


def forged_erasure(
    b: Built,
    seq: int = K,
    removed: bytes | None = None,
    leaf: bytes | None = None,
    signer: Signer | None = None,
    tombstone_digest: str | None = None,
) -> int:
    """An erasure of ``seq`` with the given parts wrong; returns the erasure entry's seq."""
    original = canonical_at(b, seq)
    with b.ledger.store.reader() as r:
        stored = r.entry(seq)
    assert stored is not None
    canonical = erasure_entry(
        ORIGIN,
        seq,
        leaf or stored.leaf_hash,
        original if removed is None else removed,
        "leaked credential",
        "alice",
        "2024-05-15T00:00:00Z",
        signer or b.ledger.keys.signer(),
    )
    erasure_seq = append_erasure(b, canonical)
    digest = tombstone_digest or hashlib.sha256(original).hexdigest()
    write_tombstone(b, seq, Tombstone(seq, erasure_seq, digest).encode())
    return erasure_seq


def fails_at(b: Built, seq: int, *words: str) -> None:
    with pytest.raises(IntegrityError) as caught:
        b.ledger.verify()
    assert caught.value.seq == seq, caught.value.reason
    for word in words:
        assert word in caught.value.reason, caught.value.reason


# -- a proper erasure ---------------------------------------------------------------


def test_erase_then_verify_counts_it_and_hashes_stay(built: Built) -> None:
    before = verify_ok(built.ledger)
    assert before.erased == 0
    original = canonical_at(built, K)
    with built.ledger.store.reader() as r:
        old_entry = r.entry(K)
    result = built.ledger.erase(K, "leaked credential", "alice")
    assert (result.seq, result.erasure_seq, result.size) == (K, SIZE, SIZE + 1)
    assert result.removed_sha256 == hashlib.sha256(original).hexdigest()
    with built.ledger.store.reader() as r:
        erased, erasure = r.entry(K), r.entry(SIZE)
    assert erased is not None and erasure is not None and old_entry is not None
    # Only the bytes changed: leaf and chain hash are the ones the checkpoints signed.
    assert (erased.leaf_hash, erased.chain_hash) == (old_entry.leaf_hash, old_entry.chain_hash)
    assert erased.canonical == Tombstone(K, SIZE, result.removed_sha256).encode()
    body = orjson.loads(erasure.canonical)[ERASURE_MEMBER]
    assert (body["seq"], body["reason"], body["requested_by"]) == (K, "leaked credential", "alice")
    assert body["leaf_hash"] == old_entry.leaf_hash.hex()
    after = built.ledger.verify()
    assert (after.size, after.erased, after.checkpoints) == (SIZE + 1, 1, len(BATCHES) + 1)
    # The tree of size 100 is the one signed before the erasure.
    assert built.ledger.verify(external_notes=[built.note_at_end]).erased == 1


def test_erase_refuses(built: Built) -> None:
    for seq in (-1, SIZE):
        with pytest.raises(VestigeError, match="no entry"):
            built.ledger.erase(seq, "why", "alice")
    with pytest.raises(InputError, match="reason"):
        built.ledger.erase(K, "  ", "alice")
    erasure_seq = built.ledger.erase(K, "leak", "alice").erasure_seq
    with pytest.raises(VestigeError, match=f"already erased \\(by entry {erasure_seq}\\)"):
        built.ledger.erase(K, "again", "alice")
    with pytest.raises(VestigeError, match="own record"):
        built.ledger.erase(erasure_seq, "erase the erasure", "alice")
    built.ledger.rotate_key()
    with pytest.raises(VestigeError, match="own record"):
        built.ledger.erase(erasure_seq + 1, "erase the rotation", "alice")
    assert built.ledger.verify().erased == 1


def test_reserved_members_are_refused_in_user_records() -> None:
    for member in RESERVED_MEMBERS:
        with pytest.raises(InputError, match="reserved"):
            Record.of({member: {"seq": 1}, "other": 1})


def store_bytes(b: Built) -> bytes:
    """Every table's every value, and on SQLite the database files themselves."""
    db = Db(b.url)
    try:
        if db.postgres:
            tables = [
                name
                for (name,) in db.rows(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                )
            ]
        else:
            tables = [n for (n,) in db.rows("SELECT name FROM sqlite_master WHERE type='table'")]
        assert set(APPEND_ONLY_TABLES) <= set(tables)
        dump = repr([db.rows(f"SELECT * FROM {table}") for table in tables]).encode()
    finally:
        db.close()
    if not db.postgres:
        for path in Path(b.url).parent.glob(Path(b.url).name + "*"):
            dump += path.read_bytes()
    return dump


def test_erased_bytes_are_nowhere_in_the_store(built: Built) -> None:
    leaky = event(5000) | {"requestParameters": {"secretAccessKey": SECRET}}
    built.ledger.append([Record.of(leaky)])
    seq = built.ledger.checkpoint().size - 1
    assert SECRET.encode() in store_bytes(built)
    result = built.ledger.erase(seq, "secret in requestParameters", "alice")
    assert result.flushed
    assert SECRET.encode() not in store_bytes(built)
    assert built.ledger.verify().erased == 1


# -- proofs before and after ------------------------------------------------------------


def test_inclusion_proof_of_an_erased_entry(built: Built) -> None:
    key = built.ledger.keys.verifiers()[-1]
    before = built.ledger.prove_inclusion(K, SIZE)
    assert before.erased is None and verify_inclusion_proof(before.to_json(), key).tombstone is None
    built.ledger.erase(K, "leaked credential", "alice")
    at_old = built.ledger.prove_inclusion(K, SIZE)  # a tree signed before the erasure
    after = built.ledger.prove_inclusion(K)
    for proof in (at_old, after):
        assert proof.leaf_hash == before.leaf_hash and Tombstone.holds(proof.canonical)
    assert at_old.proof == before.proof  # same tree, same path
    old_check = verify_inclusion_proof(at_old.to_json(), key)
    assert old_check.tombstone is not None and old_check.erasure is None
    document = after.to_json()
    erased = document["erased"]
    assert isinstance(erased, dict)
    assert (erased["erasure_seq"], erased["reason"], erased["requested_by"]) == (
        SIZE,
        "leaked credential",
        "alice",
    )
    check = verify_inclusion_proof(document, key)
    assert check.checkpoint.size == SIZE + 1
    assert check.erasure is not None and check.erasure.reason == "leaked credential"
    # The proof's own account of the erasure must agree with the signed entry it carries.
    with pytest.raises(InputError, match="differs"):
        verify_inclusion_proof(document | {"erased": erased | {"reason": "routine"}}, key)
    # A tombstone cannot stand in for bytes the path does not prove.
    wrong_leaf = document | {"leaf_hash": base64.b64encode(flip(before.leaf_hash, 3)).decode()}
    with pytest.raises(InputError, match="not proved"):
        verify_inclusion_proof(wrong_leaf, key)
    with pytest.raises(InputError, match="says nothing of its erasure"):
        verify_inclusion_proof({k: v for k, v in document.items() if k != "erased"}, key)


# -- erasures that must not verify ----------------------------------------------------------


def test_tombstone_without_erasure_entry_fails_at_its_seq(built: Built) -> None:
    digest = hashlib.sha256(canonical_at(built, K)).hexdigest()
    write_tombstone(built, K, Tombstone(K, SIZE, digest).encode())  # the guards allow it
    fails_at(built, K, "erased without a valid erasure entry", "no erasure entry")


def test_tombstone_with_guards_dropped_fails_at_its_seq(built: Built) -> None:
    with tampering(built.url) as db:
        db.rows(
            "UPDATE ledger_entry SET canonical = ? WHERE seq = ?", [b'{"vestige_tombstone":1}', K]
        )
    fails_at(built, K, "erased without a valid erasure entry")


def test_erasure_with_wrong_digest_fails_at_the_tombstone(built: Built) -> None:
    forged_erasure(built, removed=b"something else")
    fails_at(built, K, "erased without a valid erasure entry", "tombstone does not match")


def test_tombstone_with_wrong_digest_fails_at_its_seq(built: Built) -> None:
    forged_erasure(built, tombstone_digest="00" * 32)
    fails_at(built, K, "tombstone does not match")


def test_erasure_with_wrong_leaf_hash_fails_at_the_tombstone(built: Built) -> None:
    forged_erasure(built, leaf=merkle.leaf_hash(b"other"))
    fails_at(built, K, "another leaf hash")


def test_erasure_signed_by_an_untrusted_key_fails_at_the_tombstone(built: Built) -> None:
    forged_erasure(built, signer=Signer.generate(key_name(ORIGIN)))
    fails_at(built, K, "not trusted")


def test_erasure_with_a_corrupted_signature_fails_at_the_tombstone(built: Built) -> None:
    erasure_seq = built.ledger.erase(K, "leak", "alice").erasure_seq
    verify_ok(built.ledger, SIZE + 1, len(BATCHES) + 1)
    with tampering(built.url) as db:
        entry = orjson.loads(canonical_at(built, erasure_seq))
        signature = base64.b64decode(entry[ERASURE_MEMBER]["signature"])
        entry[ERASURE_MEMBER]["signature"] = base64.b64encode(flip(signature, 9)).decode()
        rewrite_entry(db, erasure_seq, canonicalize(entry))  # leaf, chain and nodes all match
    fails_at(built, K, "signature does not verify")


def test_erasure_without_a_digest_fails_at_the_tombstone(built: Built) -> None:
    erasure_seq = built.ledger.erase(K, "leak", "alice").erasure_seq
    with tampering(built.url) as db:
        entry = orjson.loads(canonical_at(built, erasure_seq))
        del entry[ERASURE_MEMBER]["removed_sha256"]
        rewrite_entry(db, erasure_seq, canonicalize(entry))
    fails_at(built, K, "removed_sha256")


def test_erasure_of_an_intact_entry(built: Built) -> None:
    """An erasure naming an entry that still has its bytes holds only if they are the ones
    it says were removed; a wrong one fails at the erasure entry itself."""
    original = canonical_at(built, K)
    with built.ledger.store.reader() as r:
        stored = r.entry(K)
    assert stored is not None

    def erasure(removed: bytes) -> bytes:
        return erasure_entry(
            ORIGIN, K, stored.leaf_hash, removed, "r", "a", "t", built.ledger.keys.signer()
        )

    append_erasure(built, erasure(original))
    assert built.ledger.verify().erased == 0
    wrong = append_erasure(built, erasure(b"other bytes"))
    fails_at(built, wrong, "already")


def test_erasure_of_an_intact_entry_with_a_wrong_digest(built: Built) -> None:
    stored = canonical_at(built, K)
    leaf = merkle.leaf_hash(stored)
    signer = built.ledger.keys.signer()
    seq = append_erasure(built, erasure_entry(ORIGIN, K, leaf, b"x", "r", "a", "t", signer))
    fails_at(built, seq, "invalid erasure entry", "other than those it removed")


def test_erasure_naming_a_later_entry_fails_at_itself(built: Built) -> None:
    signer = built.ledger.keys.signer()
    seq = append_erasure(
        built, erasure_entry(ORIGIN, SIZE + 5, b"\0" * 32, b"x", "r", "a", "t", signer)
    )
    fails_at(built, seq, "names no earlier entry")


# -- the database guards --------------------------------------------------------------------


def refused(db: Db) -> tuple[type[Exception], ...]:
    return (psycopg.errors.InsufficientPrivilege,) if db.postgres else (sqlite3.IntegrityError,)


def test_guards_allow_only_an_erasure(built: Built) -> None:
    built.ledger.erase(K, "leak", "alice")
    tombstone = canonical_at(built, K)
    other = Tombstone(3, SIZE, "00" * 32).encode()
    db = Db(built.url)
    try:
        before = db.rows("SELECT * FROM ledger_entry ORDER BY seq")
        statements: list[tuple[str, list[object]]] = [
            ("UPDATE ledger_entry SET leaf_hash = ? WHERE seq = 3", [b"\0" * 32]),
            ("UPDATE ledger_entry SET chain_hash = chain_hash WHERE seq = 3", []),
            ("UPDATE ledger_entry SET seq = 1000 WHERE seq = 3", []),
            ("UPDATE ledger_entry SET canonical = ? WHERE seq = 3", [b'{"a":1}']),
            # a tombstone, but another column changes with it
            ("UPDATE ledger_entry SET canonical = ?, leaf_hash = ? WHERE seq = 3", [other, b"x"]),
            ("UPDATE ledger_entry SET canonical = ?, appended_at = 'x' WHERE seq = 3", [other]),
            # re-erasing a tombstone, or restoring bytes in its place
            ("UPDATE ledger_entry SET canonical = ? WHERE seq = ?", [other, K]),
            ("UPDATE ledger_entry SET canonical = ? WHERE seq = ?", [b'{"a":1}', K]),
            ("DELETE FROM ledger_entry WHERE seq = ?", [K]),
            ("DELETE FROM ledger_entry WHERE seq = 3", []),
        ]
        for sql, params in statements:
            with pytest.raises(refused(db), match="append-only"):
                db.rows(sql, params)
        assert db.rows("SELECT * FROM ledger_entry ORDER BY seq") == before
        for table, column in (("ledger_checkpoint", "note"), ("ledger_meta", "value")):
            with pytest.raises(refused(db), match="append-only"):
                db.rows(f"UPDATE {table} SET {column} = ?", [tombstone.decode()])
    finally:
        db.close()
    assert built.ledger.verify().erased == 1


def test_create_upgrades_the_guards_of_an_older_store(built: Built) -> None:
    """A store made before erasure existed refuses every UPDATE; `init` brings its guards
    up to date, so an erasure goes through."""
    db = Db(built.url)
    try:
        if db.postgres:
            db.rows("DROP TRIGGER ledger_entry_append_only ON ledger_entry")
            db.rows(
                "CREATE TRIGGER ledger_entry_append_only BEFORE UPDATE OR DELETE ON ledger_entry "
                "FOR EACH ROW EXECUTE FUNCTION vestige_refuse_change()"
            )
        else:
            db.rows("DROP TRIGGER ledger_entry_no_update")
            db.rows(
                "CREATE TRIGGER ledger_entry_no_update BEFORE UPDATE ON ledger_entry BEGIN "
                "SELECT RAISE(ABORT, 'vestige: UPDATE on ledger_entry refused: the ledger is "
                "append-only'); END"
            )
    finally:
        db.close()
    with pytest.raises(Exception, match="append-only"):
        built.ledger.erase(K, "leak", "alice")
    assert built.ledger.verify().erased == 0  # the failed erasure left nothing behind
    Ledger.init(Store(built.url), built.home, ORIGIN)
    built.ledger.erase(K, "leak", "alice")
    assert built.ledger.verify().erased == 1


def test_two_erasures_and_a_rotation(built: Built) -> None:
    """Erasures signed by the key active at their seq, across a rotation."""
    first = built.ledger.erase(3, "leak", "alice")
    built.ledger.rotate_key()
    second = built.ledger.erase(K, "deletion request", "bob")
    assert second.erasure_seq == first.erasure_seq + 2
    result = built.ledger.verify()
    assert (result.erased, result.size) == (2, SIZE + 3)
    anchor = built.ledger.keys.verifiers()[0]
    assert built.ledger.verify(anchors=[anchor]).erased == 2
