"""The ledger: append, checkpoint, prove and verify, over one store and one key ring.

Append lifecycle (one transaction per batch, under the store's write lock):
read the head (size, chain hash, right edge of the tree) -> drop records whose
idempotency key is already stored -> hash and insert entries with the tree
nodes each completes -> sign a checkpoint of the new head -> commit. A crash before the
commit leaves the previous head intact; a rerun skips what was committed.
"""

from __future__ import annotations

import base64
import fcntl
import functools
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ledger import merkle
from ledger.canonical import canonicalize
from ledger.checkpoint import Checkpoint
from ledger.erasure import (
    ERASURE_PREFIX,
    RESERVED_MEMBERS,
    ROTATION_PREFIX,
    Tombstone,
    erasure_entry,
    parse_erasure,
)
from ledger.errors import InputError, IntegrityError, VestigeError
from ledger.keys import KeyRing, rotation_entry
from ledger.note import Signer, Verifier, sign_note
from ledger.store import Reader, Store, StoredCheckpoint, Writer, is_unique_violation
from ledger.verify import Replay, VerifyResult, replay

__all__ = [
    "AppendResult",
    "ConsistencyProof",
    "ErasureResult",
    "InclusionProof",
    "Ledger",
    "Record",
    "DEFAULT_BATCH",
]

DEFAULT_BATCH = 5_000


@dataclass(frozen=True)
class Record:
    """One entry to append: canonical bytes, their leaf hash, and the idempotency key.

    Build it with :meth:`of` or :meth:`keyed`, which compute the leaf hash once.
    """

    key: bytes
    canonical: bytes
    leaf: bytes

    @classmethod
    def of(
        cls, value: Mapping[str, object], canonical: bytes | None = None, key: str | None = None
    ) -> Record:
        """A user record. Without ``key``, identical content is one entry."""
        for member in RESERVED_MEMBERS:
            if member in value:
                raise InputError(f"the member {member!r} is reserved for the ledger's own entries")
        if canonical is None:
            canonical = canonicalize(value)
        return cls.keyed(canonical, key)

    @classmethod
    def keyed(cls, canonical: bytes, key: str | None = None) -> Record:
        """A record of canonical bytes; the key defaults to the content (the leaf hash)."""
        leaf = merkle.leaf_hash(canonical)
        if key is None:
            return cls(leaf, canonical, leaf)
        return cls(hashlib.sha256(b"key\x00" + key.encode()).digest(), canonical, leaf)


@dataclass(frozen=True)
class AppendResult:
    appended: int
    duplicates: int
    size: int
    root: bytes


@dataclass(frozen=True)
class ErasureResult:
    seq: int  # the entry erased
    erasure_seq: int  # the signed erasure entry
    removed_sha256: str  # hex SHA-256 of the bytes removed
    size: int  # the new head
    flushed: bool  # False: a SQLite reader kept the write-ahead log from being emptied


@dataclass(frozen=True)
class InclusionProof:
    """An entry's inclusion in a signed tree.

    ``erased``: for an erased entry (``canonical`` is its tombstone), the erasure's
    facts and, when the erasure entry is in the same tree, its bytes and path too
    (``erasure``), so an offline check can verify who erased it and why.
    """

    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    canonical: bytes
    proof: list[bytes]
    checkpoint: str
    erased: dict[str, object] | None = None

    def to_json(self) -> dict[str, object]:
        document: dict[str, object] = {
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "leaf_hash": _b64(self.leaf_hash),
            "canonical": _b64(self.canonical),
            "proof": [_b64(p) for p in self.proof],
            "checkpoint": self.checkpoint,
        }
        if self.erased is not None:
            document["erased"] = self.erased
        return document


@dataclass(frozen=True)
class ConsistencyProof:
    old_size: int
    new_size: int
    proof: list[bytes]

    def to_json(self) -> dict[str, object]:
        return {
            "old_size": self.old_size,
            "new_size": self.new_size,
            "proof": [_b64(p) for p in self.proof],
        }


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def key_name(origin: str) -> str:
    """A signed-note key name for ``origin``: no spaces or '+'."""
    return "".join("_" if ch.isspace() or ch == "+" else ch for ch in origin)


class Ledger:
    """One ledger: its store (SQLite or PostgreSQL) and its home (keys, witness)."""

    def __init__(self, store: Store, home: Path) -> None:
        self.store = store
        self.home = home
        self.keys = KeyRing.at(home)

    # -- setup --------------------------------------------------------------

    @classmethod
    def init(cls, store: Store, home: Path, origin: str) -> Ledger:
        """Create the store and, if absent, the signing key; idempotent."""
        home.mkdir(parents=True, exist_ok=True, mode=0o700)  # keys and evidence: owner only
        ledger = cls(store, home)
        store.create()
        with store.writer() as w:
            existing = w.meta("origin")
            if existing is None:
                w.set_meta("origin", origin)
            elif existing != origin:
                raise VestigeError(f"the store already holds the ledger {existing!r}")
        if not ledger.keys.exists():
            ledger.keys.add(Signer.generate(key_name(origin)))
        return ledger

    def _require_store(self) -> None:
        self.origin  # noqa: B018  # raises, with advice, when there is no ledger yet

    @functools.cached_property
    def origin(self) -> str:
        """The log's origin line; fixed when the store was created, so read once."""
        if not self.store.exists():
            raise VestigeError(f"no ledger in {self.store.url}: run `vestige init` first")
        with self.store.reader() as r:
            return self._origin_of(r)

    # -- append -------------------------------------------------------------

    def append(
        self,
        records: Iterable[Record],
        batch_size: int = DEFAULT_BATCH,
        progress: Callable[[int], None] | None = None,
    ) -> AppendResult:
        """Append in batches; each batch is atomic and ends with a signed checkpoint."""
        origin = self.origin
        signers = [self.keys.signer()]
        appended = duplicates = 0
        result = None
        for batch in _batches(records, batch_size):
            result = self._append_batch(origin, batch, signers)[0]
            appended += result.appended
            duplicates += result.duplicates
            if progress is not None:
                progress(appended + duplicates)
        if result is None:
            with self.store.reader() as r:
                size = r.size()
                head = r.latest_checkpoint()
            return AppendResult(0, 0, size, head.root if head else merkle.EMPTY_ROOT)
        return AppendResult(appended, duplicates, result.size, result.root)

    def entries_by_key(self, keys: list[bytes]) -> dict[bytes, tuple[int, bytes]]:
        """(seq, canonical bytes) of the entries stored under these record keys."""
        if not keys:
            return {}
        with self.store.reader(snapshot=False) as reader:
            return reader.entries_by_key(keys)

    def append_batch(self, batch: list[Record]) -> list[Record]:
        """Append one batch atomically; return the records that were new (not duplicates)."""
        return self._append_batch(self.origin, batch, [self.keys.signer()])[1]

    def _append_batch(
        self, origin: str, batch: list[Record], signers: list[Signer]
    ) -> tuple[AppendResult, list[Record]]:
        first_of_key: dict[bytes, Record] = {}
        for record in batch:
            first_of_key.setdefault(record.key, record)  # the first occurrence wins
        unique = list(first_of_key.values())
        # Optimistic: new records rarely collide, so look keys up only after a
        # unique-key violation has rolled the first attempt back.
        for look_up in (False, True):
            try:
                with self.store.writer() as w:
                    fresh = unique
                    if look_up:
                        seen = w.existing_keys([record.key for record in unique])
                        fresh = [record for record in unique if record.key not in seen]
                    head = self._write(w, origin, fresh, signers)
            except Exception as exc:
                if look_up or not is_unique_violation(exc):
                    raise
                continue
            self._witness(origin, head)
            counts = AppendResult(len(fresh), len(batch) - len(fresh), head.size, head.root)
            return counts, fresh
        raise AssertionError("unreachable")

    def _write(
        self, w: Writer, origin: str, records: list[Record], signers: list[Signer]
    ) -> StoredCheckpoint:
        """Insert ``records`` after the head; return the checkpoint of the new head."""
        size = w.size()
        # The right edge of the tree: one perfect subtree per set bit of size.
        edge = _subtree_hashes(w, merkle.perfect_subtrees(0, size))
        chain = w.chain_head()
        now = _now()
        rows = []
        sha256 = hashlib.sha256
        # merkle.CompactRange.append, inlined: this loop is the append hot path.
        for seq, record in enumerate(records, start=size):
            leaf = record.leaf
            chain = sha256(chain + leaf).digest()
            node, completed, index = leaf, b"", seq
            while index & 1:
                node = sha256(b"\x01" + edge.pop() + node).digest()
                completed += node
                index >>= 1
            edge.append(node)
            rows.append((seq, record.key, record.canonical, leaf, chain, completed, now))
        w.insert_entries(rows)
        size, root = size + len(records), merkle.fold_range(edge)
        existing = None if records else w.checkpoint_at(size)
        if existing is not None:
            return existing
        note = sign_note(Checkpoint(origin, size, root).body(), signers)
        w.insert_checkpoint(size, root, note, now)
        return StoredCheckpoint(size, root, note, now)

    def checkpoint(self) -> StoredCheckpoint:
        """Sign and store a checkpoint of the current head (if it has none yet)."""
        origin = self.origin
        with self.store.writer() as w:
            latest = self._write(w, origin, [], [self.keys.signer()])
        self._witness(origin, latest)
        return latest

    def rotate_key(self) -> Verifier:
        """Make a new signing key, announced in the ledger by the old one."""
        origin = self.origin
        old = self.keys.signer()
        new = Signer.generate(old.name)
        canonical = canonicalize(rotation_entry(origin, old, new.verifier))
        self.keys.store_private(new)
        # The checkpoint that includes the rotation is the last the old key signs.
        self._append_batch(origin, [Record.keyed(canonical)], [old, new])
        self.keys.promote(new.verifier)
        self.keys.forget_private(old.verifier)
        return new.verifier

    def erase(self, seq: int, reason: str, requested_by: str) -> ErasureResult:
        """Replace entry ``seq``'s bytes by a tombstone under a signed erasure entry.

        One transaction: the erasure entry is appended at the head (and the new head
        signed), then the entry's bytes are overwritten. Leaf and chain hashes, tree
        nodes and checkpoints do not change, so every proof of position still holds.
        """
        reason, requested_by = reason.strip(), requested_by.strip()
        if not reason:
            raise InputError("an erasure needs a reason")
        if not requested_by:
            raise InputError("an erasure needs the name of who asked for it")
        origin = self.origin
        signer = self.keys.signer()
        with self.store.writer() as w:
            size = w.size()
            entry = w.entry(seq) if 0 <= seq < size else None
            if entry is None:
                raise VestigeError(f"no entry {seq} to erase (the ledger has {size} entries)")
            if Tombstone.holds(entry.canonical):
                erased_by = Tombstone.parse(entry.canonical).erasure_seq
                raise VestigeError(f"entry {seq} is already erased (by entry {erased_by})")
            if entry.canonical.startswith((ROTATION_PREFIX, ERASURE_PREFIX)):
                raise VestigeError(f"entry {seq} is the ledger's own record and cannot be erased")
            canonical = erasure_entry(
                origin, seq, entry.leaf_hash, entry.canonical, reason, requested_by, _now(), signer
            )
            head = self._write(w, origin, [Record.keyed(canonical)], [signer])
            tombstone = Tombstone(seq, size, hashlib.sha256(entry.canonical).hexdigest())
            w.erase_canonical(seq, tombstone.encode())
        self._witness(origin, head)
        flushed = self.store.flush_erased()
        return ErasureResult(seq, size, tombstone.removed_sha256, head.size, flushed)

    # -- proofs -------------------------------------------------------------

    def prove_inclusion(self, seq: int, size: int | None = None) -> InclusionProof:
        return self.prove_inclusions([seq], size)[seq]

    def prove_inclusions(
        self, seqs: Iterable[int], size: int | None = None
    ) -> dict[int, InclusionProof]:
        """Inclusion proofs of several entries in one signed tree (the head by default)."""
        self._require_store()
        # No snapshot needed: entries, their tree nodes and checkpoints never
        # change, and a checkpoint is committed with the entries it covers.
        with self.store.reader(snapshot=False) as r:
            head = r.latest_checkpoint()
            if head is None:
                raise VestigeError("the ledger has no checkpoint yet")
            size = head.size if size is None else size
            proofs: dict[int, InclusionProof] = {}
            note: str | None = None
            for seq in seqs:
                # Only signed sizes are provable: entries past the head are not vouched for.
                if not 0 <= seq < size <= head.size:
                    raise VestigeError(
                        f"entry {seq} is not in a tree of size {size} "
                        f"(the signed head is {head.size})"
                    )
                if note is None:
                    stored = head if size == head.size else r.checkpoint_at(size)
                    note = stored.note if stored else self._sign_at(r, size)
                entry = r.entry(seq)
                if entry is None:
                    raise IntegrityError(seq, "entry is missing from the store")
                path = _range_hashes(r, merkle.inclusion_ranges(seq, size))
                erased = None
                if Tombstone.holds(entry.canonical):
                    erased = self._erasure_of(r, seq, entry.canonical, size)
                proofs[seq] = InclusionProof(
                    seq, size, entry.leaf_hash, entry.canonical, path, note, erased
                )
        return proofs

    def _erasure_of(
        self, r: Reader, seq: int, tombstone: bytes, size: int
    ) -> dict[str, object] | None:
        """What an inclusion proof says of an erased entry: the erasure's facts, and the
        erasure entry with its own path when it is in the same tree. None when no valid
        erasure entry covers it (``verify`` fails there; the proof then fails to check)."""
        try:
            erasure_seq = Tombstone.parse(tombstone).erasure_seq
            stored = r.entry(erasure_seq)
            if stored is None:
                return None
            erasure = parse_erasure(stored.canonical, self.origin, self.keys.verifiers())
        except InputError:
            return None
        if erasure.seq != seq:
            return None
        facts: dict[str, object] = {"erasure_seq": erasure_seq, **erasure.facts()}
        if erasure_seq < size:
            path = _range_hashes(r, merkle.inclusion_ranges(erasure_seq, size))
            facts["erasure"] = {
                "leaf_index": erasure_seq,
                "leaf_hash": _b64(stored.leaf_hash),
                "canonical": _b64(stored.canonical),
                "proof": [_b64(p) for p in path],
            }
        return facts

    def prove_consistency(self, old_size: int, new_size: int) -> ConsistencyProof:
        self._require_store()
        with self.store.reader(snapshot=False) as r:
            size = r.size()
            if not 0 < old_size <= new_size <= size:
                raise VestigeError(
                    f"no consistency proof from {old_size} to {new_size} "
                    f"(the ledger has {size} entries; sizes start at 1)"
                )
            path = _range_hashes(r, merkle.consistency_ranges(old_size, new_size))
        return ConsistencyProof(old_size, new_size, path)

    def _sign_at(self, r: Reader, size: int) -> str:
        root = merkle.fold_range(_subtree_hashes(r, merkle.perfect_subtrees(0, size)))
        body = Checkpoint(self.origin, size, root).body()
        return sign_note(body, [self.keys.signer()])

    @staticmethod
    def _origin_of(r: Reader) -> str:
        origin = r.meta("origin")
        if origin is None:
            raise VestigeError("the store has no origin: run `vestige init` first")
        return origin

    # -- verification -------------------------------------------------------

    def anchors(self) -> list[Verifier]:
        """The trust anchor: the first key this home ever had."""
        return self.keys.verifiers()[:1]

    def verify(
        self,
        anchors: list[Verifier] | None = None,
        external_notes: Iterable[str] = (),
        progress: Callable[[int], None] | None = None,
    ) -> VerifyResult:
        """Replay the whole ledger; raise :class:`IntegrityError` at the first failure.

        ``external_notes`` are checkpoints kept elsewhere; the home's own
        witness checkpoint is always among them when present.
        """
        trusted = anchors if anchors else self.anchors()
        self._require_store()
        with self.store.reader() as r:
            origin = self._origin_of(r)  # from the snapshot being verified, never cached
            notes = list(external_notes)
            witness = self._witness_path(origin)
            if witness.exists():
                notes.append(witness.read_text())
            return replay(
                Replay(
                    origin=origin,
                    anchors=trusted,
                    entries=r.stream_entries(),
                    checkpoints=r.checkpoints(),
                    canonical_at=lambda seq: None if (e := r.entry(seq)) is None else e.canonical,
                    external=notes,
                    progress=progress,
                )
            )

    # -- the home's witness of the latest head ------------------------------

    def _witness_path(self, origin: str) -> Path:
        name = hashlib.sha256(origin.encode()).hexdigest()[:16]
        return self.home / "witness" / f"{name}.checkpoint"

    def _witness(self, origin: str, latest: StoredCheckpoint) -> None:
        """Keep the newest checkpoint in the home, so a store rolled back is caught."""
        path = self._witness_path(origin)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if path.exists():
                if Checkpoint.claimed_by(path.read_text()).size >= latest.size:
                    return
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
                out.write(latest.note)
            tmp.replace(path)


def _batches(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    batch: list[Record] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _subtree_hashes(r: Reader, keys: list[merkle.NodeKey]) -> list[bytes]:
    found = r.nodes(keys)
    missing = [key for key in keys if key not in found]
    if missing:
        level, index = missing[0]
        raise IntegrityError(
            index << level, f"stored Merkle node (level {level}, index {index}) is missing"
        )
    return [found[key] for key in keys]


def _range_hashes(r: Reader, ranges: list[tuple[int, int]]) -> list[bytes]:
    """Hashes of proof ranges, read with one lookup of all their perfect subtrees."""
    per_range = [merkle.perfect_subtrees(lo, hi) for lo, hi in ranges]
    every = [key for subtrees in per_range for key in subtrees]
    hashes = dict(zip(every, _subtree_hashes(r, every), strict=True))
    return [merkle.fold_range([hashes[key] for key in subtrees]) for subtrees in per_range]
