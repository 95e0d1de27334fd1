"""Full replay of a ledger: chain, tree, stored nodes, checkpoints and keys.

Lifecycle of a replay: trust starts from the anchor keys, all active. Each
entry is re-hashed (leaf, chain) and added to a compact range whose completed
subtrees must equal the tree nodes stored with the entry. A valid key-rotation
entry, signed by an active key, makes the new key active and retires the old
one, which may then sign only checkpoints up to the size that includes the
rotation (our policy: a rotated-out key cannot vouch for anything later).
An erased entry's tombstone cannot be re-hashed: its stored leaf hash is taken
as it is for the chain and tree, and the tombstone is held until a later erasure
entry, signed by an active key, names that seq, leaf hash and removed digest.
Whenever the replay reaches a checkpoint's size, the checkpoint's signature (by
a key allowed at that size), origin and root are checked. All stored
checkpoints matching the replayed tree is what makes each later one an
append-only extension of the earlier.

The first failing check stops the replay and names the first entry it cannot
vouch for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import orjson

from ledger import merkle
from ledger.checkpoint import Checkpoint
from ledger.erasure import (
    ERASURE_PREFIX,
    RESERVED_PREFIX,
    ROTATION_PREFIX,
    TOMBSTONE_PREFIX,
    parse_erasure,
    target_of,
)
from ledger.errors import InputError, IntegrityError
from ledger.keys import ROTATION_MEMBER, rotation_signer
from ledger.note import Verifier, open_note
from ledger.store import StoredCheckpoint

__all__ = ["Replay", "VerifyResult", "check_note", "replay"]


@dataclass(frozen=True)
class VerifyResult:
    size: int
    root: bytes
    checkpoints: int
    keys: list[Verifier] = field(default_factory=list)
    erased: int = 0  # entries whose bytes a valid erasure entry replaced by a tombstone


def check_note(note: str, origin: str, trusted: list[Verifier]) -> Checkpoint:
    """The checkpoint in ``note`` if a trusted key signed it for ``origin``."""
    text, valid = open_note(note, trusted)
    if not valid:
        raise InputError("checkpoint is not signed by any trusted key")
    checkpoint = Checkpoint.parse(text)
    if checkpoint.origin != origin:
        raise InputError(f"checkpoint is for origin {checkpoint.origin!r}, not {origin!r}")
    return checkpoint


@dataclass
class Replay:
    """The inputs of one replay, read from a single snapshot of the store."""

    origin: str
    anchors: list[Verifier]
    entries: Iterator[tuple[int, bytes, bytes, bytes, bytes]]
    checkpoints: list[StoredCheckpoint]
    canonical_at: Callable[[int], bytes | None]
    """Stored bytes of one entry: read only when an erasure names an entry still holding them."""
    external: list[str] = field(default_factory=list)
    """Checkpoint notes kept elsewhere; checked when the replay reaches their size."""
    progress: Callable[[int], None] | None = None


def replay(r: Replay) -> VerifyResult:
    """Replay everything; raise :class:`IntegrityError` at the first failure."""
    # key -> the largest tree size it may sign (None: active, no limit)
    trusted: dict[Verifier, int | None] = dict.fromkeys(r.anchors)

    def signers_at(size: int) -> list[Verifier]:
        return [key for key, limit in trusted.items() if limit is None or size <= limit]

    pending = sorted(r.checkpoints, key=lambda c: c.size)
    external = sorted(
        ((Checkpoint.claimed_by(note).size, note) for note in r.external), key=lambda e: e[0]
    )
    edge: list[bytes] = []  # the compact range: one subtree per set bit of size
    chain = merkle.GENESIS_CHAIN
    vouched = 0  # entries [0, vouched) are covered by a verified checkpoint

    def reach(size: int) -> int:
        """Check the checkpoints at ``size``; return the next size to stop at."""
        nonlocal vouched
        root = merkle.fold_range(edge)
        while pending and pending[0].size == size:
            stored = pending.pop(0)
            try:
                cp = check_note(stored.note, r.origin, signers_at(size))
            except InputError as exc:
                raise IntegrityError(vouched, f"checkpoint at size {size}: {exc}") from None
            if cp.size != size or stored.root != cp.root:
                raise IntegrityError(vouched, f"checkpoint at size {size} disagrees with its note")
            if cp.root != root:
                raise IntegrityError(
                    vouched, f"checkpoint at size {size} signs a root the entries do not give"
                )
            vouched = size
        while external and external[0][0] == size:
            try:
                # Checked now, so keys announced by rotation before `size` count.
                cp = check_note(external.pop(0)[1], r.origin, signers_at(size))
            except InputError as exc:
                raise IntegrityError(0, f"the given checkpoint is not valid: {exc}") from None
            if cp.root != root:
                raise IntegrityError(
                    0, f"the store's history up to size {size} differs from the given checkpoint"
                )
        sizes = [c.size for c in pending[:1]] + [e[0] for e in external[:1]]
        return min(sizes) if sizes else -1

    # The hot loop, with merkle.CompactRange.append inlined.
    sha256 = hashlib.sha256
    progress = r.progress
    stop = reach(0)
    size = 0
    previous_chain = chain
    erasures = _Erasures(r.origin, r.canonical_at)
    for seq, canonical, leaf, chain_stored, tree_nodes in r.entries:
        if seq != size:
            raise IntegrityError(size, f"entry {size} is missing (next stored is {seq})")
        reserved = canonical.startswith(RESERVED_PREFIX)
        if reserved and canonical.startswith(TOMBSTONE_PREFIX):
            erasures.tombstone(seq, canonical, leaf)
        elif sha256(b"\x00" + canonical).digest() != leaf:
            raise IntegrityError(seq, "canonical bytes do not match the stored leaf hash")
        if sha256(chain + leaf).digest() != chain_stored:
            if seq and sha256(previous_chain + leaf).digest() == chain_stored:
                # This entry chains to the one before its predecessor: the
                # predecessor was inserted by someone else.
                raise IntegrityError(seq - 1, "entry was inserted: the next entry skips it")
            raise IntegrityError(seq, "chain hash does not follow from the previous entry")
        previous_chain, chain = chain, chain_stored
        node, completed, index = leaf, b"", seq
        while index & 1:
            node = sha256(b"\x01" + edge.pop() + node).digest()
            completed += node
            index >>= 1
        if completed != tree_nodes:
            raise IntegrityError(seq, "stored Merkle tree nodes do not match the entries")
        edge.append(node)
        size = seq + 1
        if reserved and canonical.startswith(ROTATION_PREFIX):
            active = [key for key, limit in trusted.items() if limit is None]
            old, new = _rotation(r.origin, seq, canonical, active)
            trusted[old] = seq + 1
            trusted[new] = None
        elif reserved and canonical.startswith(ERASURE_PREFIX):
            active = [key for key, limit in trusted.items() if limit is None]
            erasures.erasure(seq, canonical, active)
        if size == stop:
            stop = reach(size)
        if progress is not None and not seq & 0x3FFF:
            progress(seq)
    erasures.finish()
    if pending:
        raise IntegrityError(
            size,
            f"a checkpoint at size {pending[0].size} but the ledger has {size} entries: "
            "entries were removed (truncation or rollback)",
        )
    if external:
        raise IntegrityError(
            size,
            f"the given checkpoint has size {external[0][0]} but the store only "
            f"{size} entries: the store was truncated or rolled back",
        )
    if vouched != size:
        raise IntegrityError(vouched, "entries after the last checkpoint are not signed by any")
    root = merkle.fold_range(edge)
    return VerifyResult(size, root, len(r.checkpoints), list(trusted), len(erasures.covered))


class _Erasures:
    """The tombstones a replay has met, and the erasure entries that cover them.

    A tombstone comes before its erasure entry, so it is held until that entry
    arrives; one still held when the replay ends was never validly erased.
    """

    def __init__(self, origin: str, canonical_at: Callable[[int], bytes | None]) -> None:
        self.origin = origin
        self.canonical_at = canonical_at
        self.held: dict[int, tuple[bytes, bytes]] = {}  # seq -> (tombstone, stored leaf hash)
        self.covered: dict[int, int] = {}  # erased seq -> its erasure entry
        self.named: dict[int, int] = {}  # seq whose bytes remain -> the erasure naming it

    def tombstone(self, seq: int, canonical: bytes, leaf: bytes) -> None:
        self.held[seq] = (canonical, leaf)

    def erasure(self, seq: int, canonical: bytes, active: list[Verifier]) -> None:
        target = target_of(canonical)
        if target is None or target >= seq:
            raise IntegrityError(seq, "invalid erasure entry: it names no earlier entry")
        earlier = self.covered.get(target, self.named.get(target))
        if earlier is not None:
            raise IntegrityError(
                seq, f"invalid erasure entry: entry {target} was erased by entry {earlier} already"
            )
        held = self.held.pop(target, None)
        try:
            erasure = parse_erasure(canonical, self.origin, active)
            if held is None:
                self._check_intact(target, erasure.leaf_hash, erasure.removed_sha256)
            elif erasure.leaf_hash != held[1]:
                raise InputError(f"it names another leaf hash than entry {target}'s")
            elif erasure.tombstone(seq).encode() != held[0]:
                raise InputError("the tombstone does not match it (seq, erasure seq or digest)")
        except InputError as exc:
            if held is None:
                raise IntegrityError(seq, f"invalid erasure entry: {exc}") from None
            raise IntegrityError(
                target, f"entry is erased without a valid erasure entry (entry {seq}: {exc})"
            ) from None
        if held is None:
            self.named[target] = seq
        else:
            self.covered[target] = seq

    def _check_intact(self, target: int, leaf: bytes, removed_sha256: str) -> None:
        """An erasure naming an entry that still has its bytes: they must be what it removed."""
        stored = self.canonical_at(target)
        if stored is None:
            raise InputError(f"entry {target} is not stored")
        if hashlib.sha256(stored).hexdigest() != removed_sha256:
            raise InputError(f"entry {target} still has bytes other than those it removed")
        if merkle.leaf_hash(stored) != leaf:
            raise InputError(f"it names another leaf hash than entry {target}'s")

    def finish(self) -> None:
        if self.held:
            first = min(self.held)
            raise IntegrityError(
                first, "entry is erased without a valid erasure entry: no erasure entry names it"
            )


def _rotation(
    origin: str, seq: int, canonical: bytes, active: list[Verifier]
) -> tuple[Verifier, Verifier]:
    try:
        return rotation_signer(origin, orjson.loads(canonical)[ROTATION_MEMBER], active)
    except (InputError, orjson.JSONDecodeError) as exc:
        raise IntegrityError(seq, f"invalid key rotation: {exc}") from None
