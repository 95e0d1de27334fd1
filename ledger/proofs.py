"""Offline checking of an inclusion proof file: needs only the file and a public key."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from ledger import merkle
from ledger.checkpoint import Checkpoint
from ledger.errors import InputError
from ledger.note import Verifier, open_note

__all__ = ["verify_inclusion_proof"]


def _bytes(document: dict[str, Any], name: str) -> bytes:
    try:
        return base64.b64decode(str(document[name]), validate=True)
    except KeyError:
        raise InputError(f"proof has no {name!r}") from None
    except (binascii.Error, ValueError):
        raise InputError(f"proof field {name!r} is not base64") from None


def verify_inclusion_proof(document: object, key: Verifier) -> Checkpoint:
    """Check a ``vestige prove inclusion --json`` document; return its checkpoint.

    Raises :class:`InputError` saying which part fails: the signature, the leaf
    hash of the canonical bytes, or the Merkle path to the signed root.
    """
    if not isinstance(document, dict):
        raise InputError("a proof file holds one JSON object")
    try:
        index, size = int(document["leaf_index"]), int(document["tree_size"])
        path = [base64.b64decode(str(p), validate=True) for p in document["proof"]]
        note = str(document["checkpoint"])
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise InputError(f"proof file is malformed: {exc}") from None
    canonical, leaf = _bytes(document, "canonical"), _bytes(document, "leaf_hash")
    text, valid = open_note(note, [key])
    if not valid:
        raise InputError(f"checkpoint is not signed by {key.encode()}")
    checkpoint = Checkpoint.parse(text)
    if checkpoint.size != size:
        raise InputError(f"proof is for size {size} but the checkpoint for {checkpoint.size}")
    if merkle.leaf_hash(canonical) != leaf:
        raise InputError("canonical bytes do not hash to the leaf hash")
    if not merkle.verify_inclusion(index, size, leaf, path, checkpoint.root):
        raise InputError(f"entry {index} is not proved to be in the signed tree of size {size}")
    return checkpoint
