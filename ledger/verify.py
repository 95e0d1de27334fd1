"""Full replay of a ledger: chain, tree, stored nodes, checkpoints and keys.

Lifecycle of a replay: trust starts from the anchor keys; each entry is
re-hashed (leaf, chain) and added to a compact range whose completed subtrees
must equal the stored nodes in order; each valid key-rotation entry extends
trust; whenever the replay reaches a checkpoint's size, the checkpoint's
signature (by a key trusted at that point), origin and root are checked. All
stored checkpoints matching the replayed tree is what makes each later one an
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
    entries: Iterator[tuple[int, bytes, bytes, bytes]]
    nodes: Iterator[tuple[int, bytes]]
    checkpoints: list[StoredCheckpoint]
    external: list[Checkpoint] = field(default_factory=list)
    progress: Callable[[int], None] | None = None


def replay(r: Replay) -> VerifyResult:
    """Replay everything; raise :class:`IntegrityError` at the first failure."""
    trusted = list(r.anchors)
    pending = sorted(r.checkpoints, key=lambda c: c.size)
    external = sorted(r.external, key=lambda c: c.size)
    compact = merkle.CompactRange()
    chain = merkle.GENESIS_CHAIN
    vouched = 0  # entries [0, vouched) are covered by a verified checkpoint
    sha256 = hashlib.sha256
    nodes = iter(r.nodes)
    next_node = nodes.__next__
    seq = -1

    def reach(size: int) -> None:
        nonlocal vouched, pending, external
        root = compact.root()
        while pending and pending[0].size == size:
            stored = pending.pop(0)
            try:
                cp = check_note(stored.note, r.origin, trusted)
            except InputError as exc:
                raise IntegrityError(vouched, f"checkpoint at size {size}: {exc}") from None
            if cp.size != size or stored.root != cp.root:
                raise IntegrityError(vouched, f"checkpoint at size {size} disagrees with its note")
            if cp.root != root:
                raise IntegrityError(
                    vouched, f"checkpoint at size {size} signs a root the entries do not give"
                )
            vouched = size
        while external and external[0].size == size:
            if external.pop(0).root != root:
                raise IntegrityError(
                    0, f"the store's tree at size {size} differs from the given checkpoint"
                )

    reach(0)
    for seq, canonical, leaf, chain_stored in r.entries:
        if seq != compact.size:
            missing = compact.size
            raise IntegrityError(missing, f"entry {missing} is missing (next stored is {seq})")
        leaf_computed = sha256(b"\x00" + canonical).digest()
        if leaf_computed != leaf:
            raise IntegrityError(seq, "canonical bytes do not match the stored leaf hash")
        chain = sha256(chain + leaf).digest()
        if chain != chain_stored:
            raise IntegrityError(seq, "chain hash does not follow from the previous entry")
        for level, index, node in compact.append(leaf):
            try:
                node_id, stored_node = next_node()
            except StopIteration:
                raise IntegrityError(seq, "stored Merkle tree ends early") from None
            if node_id != merkle.completion_order(level, index) or stored_node != node:
                raise IntegrityError(
                    seq, f"stored Merkle node (level {level}, index {index}) does not match"
                )
        if canonical.startswith(_ROTATION_PREFIX):
            try:
                trusted.append(
                    rotation_signer(r.origin, orjson.loads(canonical)[ROTATION_MEMBER], trusted)
                )
            except (InputError, orjson.JSONDecodeError) as exc:
                raise IntegrityError(seq, f"invalid key rotation: {exc}") from None
        if pending and pending[0].size == seq + 1 or external and external[0].size == seq + 1:
            reach(seq + 1)
        if r.progress is not None and not seq & 0x3FFF:
            r.progress(seq)
    size = compact.size
    for node_id, _ in nodes:
        raise IntegrityError(size, f"stored Merkle node {node_id} has no entries behind it")
    if pending:
        raise IntegrityError(
            size,
            f"a checkpoint at size {pending[0].size} but the ledger has {size} entries: "
            "entries were removed (truncation or rollback)",
        )
    if external:
        raise IntegrityError(
            size,
            f"the given checkpoint has size {external[0].size} but the store only "
            f"{size} entries: the store was truncated or rolled back",
        )
    if vouched != size:
        raise IntegrityError(vouched, "entries after the last checkpoint are not signed by any")
    return VerifyResult(size, compact.root(), len(r.checkpoints), trusted)
