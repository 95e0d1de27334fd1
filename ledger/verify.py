"""Full replay of a ledger: chain, tree, stored nodes, checkpoints and keys.

Lifecycle of a replay: trust starts from the anchor keys, all active. Each
entry is re-hashed (leaf, chain) and added to a compact range whose completed
subtrees must equal the tree nodes stored with the entry. A valid key-rotation
entry, signed by an active key, makes the new key active and retires the old
one, which may then sign only checkpoints up to the size that includes the
rotation (our policy: a rotated-out key cannot vouch for anything later).
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
from ledger.errors import InputError, IntegrityError
from ledger.keys import ROTATION_MEMBER, rotation_signer
from ledger.note import Verifier, open_note
from ledger.store import StoredCheckpoint

__all__ = ["Replay", "VerifyResult", "check_note", "replay"]

_ROTATION_PREFIX = b'{"' + ROTATION_MEMBER.encode() + b'":'


@dataclass(frozen=True)
class VerifyResult:
    size: int
    root: bytes
    checkpoints: int
    keys: list[Verifier] = field(default_factory=list)


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
    for seq, canonical, leaf, chain_stored, tree_nodes in r.entries:
        if seq != size:
            raise IntegrityError(size, f"entry {size} is missing (next stored is {seq})")
        if sha256(b"\x00" + canonical).digest() != leaf:
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
        if canonical.startswith(_ROTATION_PREFIX):
            active = [key for key, limit in trusted.items() if limit is None]
            old, new = _rotation(r.origin, seq, canonical, active)
            trusted[old] = seq + 1
            trusted[new] = None
        if size == stop:
            stop = reach(size)
        if progress is not None and not seq & 0x3FFF:
            progress(seq)
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
    return VerifyResult(size, merkle.fold_range(edge), len(r.checkpoints), list(trusted))


def _rotation(
    origin: str, seq: int, canonical: bytes, active: list[Verifier]
) -> tuple[Verifier, Verifier]:
    try:
        return rotation_signer(origin, orjson.loads(canonical)[ROTATION_MEMBER], active)
    except (InputError, orjson.JSONDecodeError) as exc:
        raise IntegrityError(seq, f"invalid key rotation: {exc}") from None
