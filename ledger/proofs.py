"""Offline checking of an inclusion proof file: needs only the file and a public key.

The proof of an erased entry carries its tombstone, which cannot be re-hashed: the
Merkle path is checked from the stated leaf hash, and the erasure entry the proof
carries (when it is in the same tree) is checked in full, signature included.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from ledger import merkle
from ledger.checkpoint import Checkpoint
from ledger.erasure import Erasure, Tombstone, parse_erasure
from ledger.errors import InputError
from ledger.note import Verifier, open_note

__all__ = ["ProofCheck", "verify_inclusion_proof"]


@dataclass(frozen=True)
class ProofCheck:
    """A verified inclusion proof: the signed tree, and whether the entry was erased."""

    checkpoint: Checkpoint
    tombstone: Tombstone | None = None  # the entry's bytes were erased
    erasure: Erasure | None = None  # the erasure entry, verified in the same tree


def _bytes(document: dict[str, Any], name: str) -> bytes:
    try:
        return base64.b64decode(str(document[name]), validate=True)
    except KeyError:
        raise InputError(f"proof has no {name!r}") from None
    except (binascii.Error, ValueError):
        raise InputError(f"proof field {name!r} is not base64") from None


def verify_inclusion_proof(document: object, key: Verifier) -> ProofCheck:
    """Check a ``vestige prove inclusion --json`` document.

    Raises :class:`InputError` saying which part fails: the signature, the leaf
    hash of the canonical bytes, the Merkle path to the signed root, or the
    erasure of an erased entry.
    """
    if not isinstance(document, dict):
        raise InputError("a proof file holds one JSON object")
    index, path = _position(document)
    try:
        size, note = int(document["tree_size"]), str(document["checkpoint"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"proof file is malformed: {exc}") from None
    canonical, leaf = _bytes(document, "canonical"), _bytes(document, "leaf_hash")
    text, valid = open_note(note, [key])
    if not valid:
        raise InputError(f"checkpoint is not signed by {key.encode()}")
    checkpoint = Checkpoint.parse(text)
    if checkpoint.size != size:
        raise InputError(f"proof is for size {size} but the checkpoint for {checkpoint.size}")
    tombstone = Tombstone.parse(canonical) if Tombstone.holds(canonical) else None
    # An erased entry's bytes are gone: only its stated leaf hash can be placed in the tree.
    if tombstone is None and merkle.leaf_hash(canonical) != leaf:
        raise InputError("canonical bytes do not hash to the leaf hash")
    if not merkle.verify_inclusion(index, size, leaf, path, checkpoint.root):
        raise InputError(f"entry {index} is not proved to be in the signed tree of size {size}")
    if tombstone is None:
        return ProofCheck(checkpoint)
    if tombstone.seq != index:
        raise InputError(f"the tombstone is of entry {tombstone.seq}, not {index}")
    erased = document.get("erased")
    if not isinstance(erased, dict):
        raise InputError(f"entry {index} is erased but the proof says nothing of its erasure")
    carried = erased.get("erasure")
    if carried is None:
        return ProofCheck(checkpoint, tombstone)  # erased after this tree was signed
    erasure = _check_erasure(carried, checkpoint, key, leaf, tombstone)
    if {**erasure.facts(), "erasure_seq": tombstone.erasure_seq} != {
        k: v for k, v in erased.items() if k != "erasure"
    }:
        raise InputError("the proof's account of the erasure differs from its erasure entry")
    return ProofCheck(checkpoint, tombstone, erasure)


def _position(document: dict[str, Any]) -> tuple[int, list[bytes]]:
    """The leaf index and the Merkle path of a proof (or of the erasure entry it carries)."""
    try:
        index = int(document["leaf_index"])
        path = [base64.b64decode(str(p), validate=True) for p in document["proof"]]
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise InputError(f"proof file is malformed: {exc}") from None
    return index, path


def _check_erasure(
    carried: object, checkpoint: Checkpoint, key: Verifier, leaf: bytes, tombstone: Tombstone
) -> Erasure:
    """The erasure entry a proof carries, in full: in the tree, signed, naming this entry."""
    if not isinstance(carried, dict):
        raise InputError("the proof's erasure entry is not an object")
    seq, path = _position(carried)
    canonical = _bytes(carried, "canonical")
    if seq != tombstone.erasure_seq:
        raise InputError(f"the tombstone names erasure entry {tombstone.erasure_seq}, not {seq}")
    if not merkle.verify_inclusion(
        seq, checkpoint.size, merkle.leaf_hash(canonical), path, checkpoint.root
    ):
        raise InputError(f"erasure entry {seq} is not proved to be in the signed tree")
    erasure = parse_erasure(canonical, checkpoint.origin, [key])
    if erasure.seq != tombstone.seq or erasure.leaf_hash != leaf:
        raise InputError(f"erasure entry {seq} names another entry or leaf hash")
    if erasure.tombstone(seq) != tombstone:
        raise InputError(f"erasure entry {seq} removed other bytes than the tombstone says")
    return erasure
