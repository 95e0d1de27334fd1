"""Erasure: an entry's stored bytes replaced by a tombstone, under a signed erasure entry.

Lifecycle of an erasure (one write transaction): the erasure entry is appended at
the head like any entry -> the erased entry's ``canonical`` is overwritten by its
tombstone (the only UPDATE the store's guards allow) -> the new head is signed.
Leaf hash, chain hash, tree nodes and every checkpoint stay as they were, so
proofs of position still hold; only the bytes behind the leaf hash are gone.

Both forms are our policy, modelled on the key-rotation entry:

* erasure entry ``{"vestige_erasure": {origin, seq, leaf_hash, removed_sha256, reason,
  requested_by, erased_at, key, signature}}``: ``signature`` is Ed25519 by ``key``
  (a key active at the entry's seq) over a context line and the RFC 8785 bytes of
  the other members;
* tombstone ``{"vestige_tombstone": {seq, erasure_seq, removed_sha256}}``, in its
  RFC 8785 form, so it can be compared byte for byte with what the erasure implies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson
import rfc8785

from ledger.canonical import canonicalize
from ledger.errors import InputError
from ledger.keys import ROTATION_MEMBER
from ledger.note import Signer, Verifier

__all__ = [
    "ERASURE_MEMBER",
    "ERASURE_PREFIX",
    "RESERVED_MEMBERS",
    "RESERVED_PREFIX",
    "ROTATION_PREFIX",
    "TOMBSTONE_MEMBER",
    "TOMBSTONE_PREFIX",
    "Erasure",
    "Tombstone",
    "erasure_entry",
    "parse_erasure",
    "target_of",
]

ERASURE_MEMBER: Final = "vestige_erasure"
TOMBSTONE_MEMBER: Final = "vestige_tombstone"
RESERVED_MEMBERS: Final = (ROTATION_MEMBER, ERASURE_MEMBER, TOMBSTONE_MEMBER)
# Canonical JSON sorts members and has no spaces: a reserved entry starts with its member.
ERASURE_PREFIX: Final = b'{"' + ERASURE_MEMBER.encode() + b'":'
ROTATION_PREFIX: Final = b'{"' + ROTATION_MEMBER.encode() + b'":'
TOMBSTONE_PREFIX: Final = b'{"' + TOMBSTONE_MEMBER.encode() + b'":'
RESERVED_PREFIX: Final = b'{"vestige_'  # every reserved member: one test in verify's hot loop
_CONTEXT: Final = b"vestige erasure v1\n"
_DIGEST: Final = re.compile("[0-9a-f]{64}")


@dataclass(frozen=True)
class Tombstone:
    """What stands in an erased entry's place: which entry, erased by which, and what went."""

    seq: int
    erasure_seq: int
    removed_sha256: str  # hex

    def encode(self) -> bytes:
        return canonicalize(
            {
                TOMBSTONE_MEMBER: {
                    "seq": self.seq,
                    "erasure_seq": self.erasure_seq,
                    "removed_sha256": self.removed_sha256,
                }
            }
        )

    @staticmethod
    def holds(canonical: bytes) -> bool:
        return canonical.startswith(TOMBSTONE_PREFIX)

    @classmethod
    def parse(cls, canonical: bytes) -> Tombstone:
        """The tombstone in ``canonical``; :class:`InputError` unless it is exactly one."""
        body = _member(canonical, TOMBSTONE_MEMBER, "tombstone")
        try:
            found = cls(_int(body["seq"]), _int(body["erasure_seq"]), _hex(body["removed_sha256"]))
        except KeyError as exc:
            raise InputError(f"tombstone has no {exc}") from None
        if found.encode() != canonical:
            raise InputError("tombstone is not in its canonical form")
        return found


@dataclass(frozen=True)
class Erasure:
    """What a validly signed erasure entry states."""

    origin: str
    seq: int  # the erased entry
    leaf_hash: bytes  # its stored leaf hash, which stays
    removed_sha256: str  # hex SHA-256 of the bytes removed
    reason: str
    requested_by: str
    erased_at: str
    key: Verifier  # the key that signed the erasure

    def tombstone(self, erasure_seq: int) -> Tombstone:
        return Tombstone(self.seq, erasure_seq, self.removed_sha256)

    def facts(self) -> dict[str, object]:
        """The erasure's facts as proofs and reports show them."""
        return {
            "seq": self.seq,
            "removed_sha256": self.removed_sha256,
            "reason": self.reason,
            "requested_by": self.requested_by,
            "erased_at": self.erased_at,
        }


def _statement(body: dict[str, Any]) -> bytes:
    return _CONTEXT + bytes(rfc8785.dumps(body))


def erasure_entry(
    origin: str,
    seq: int,
    leaf_hash: bytes,
    removed: bytes,
    reason: str,
    requested_by: str,
    erased_at: str,
    signer: Signer,
) -> bytes:
    """The canonical bytes of the entry erasing ``seq`` (whose bytes were ``removed``)."""
    body: dict[str, Any] = {
        "origin": origin,
        "seq": seq,
        "leaf_hash": leaf_hash.hex(),
        "removed_sha256": hashlib.sha256(removed).hexdigest(),
        "reason": reason,
        "requested_by": requested_by,
        "erased_at": erased_at,
        "key": signer.verifier.encode(),
    }
    signature = base64.b64encode(signer.sign(_statement(body))).decode()
    return canonicalize({ERASURE_MEMBER: {**body, "signature": signature}})


def parse_erasure(canonical: bytes, origin: str, keys: Sequence[Verifier]) -> Erasure:
    """The erasure in ``canonical`` if one of ``keys`` signed it for ``origin``.

    Raises :class:`InputError` naming what is wrong otherwise.
    """
    body = _member(canonical, ERASURE_MEMBER, "erasure entry")
    signed = {name: value for name, value in body.items() if name != "signature"}
    try:
        key = Verifier.parse(str(body["key"]))
        signature = base64.b64decode(str(body["signature"]), validate=True)
        erasure = Erasure(
            origin=str(body["origin"]),
            seq=_int(body["seq"]),
            leaf_hash=bytes.fromhex(_hex(body["leaf_hash"])),
            removed_sha256=_hex(body["removed_sha256"]),
            reason=_text(body["reason"], "reason"),
            requested_by=_text(body["requested_by"], "requested_by"),
            erased_at=_text(body["erased_at"], "erased_at"),
            key=key,
        )
    except KeyError as exc:
        raise InputError(f"erasure entry has no {exc}") from None
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"erasure entry is malformed: {exc}") from None
    if erasure.origin != origin:
        raise InputError("erasure entry names another ledger")
    if key not in keys:
        raise InputError(f"erasure entry signed by a key that is not trusted: {key.encode()}")
    if not key.verify(_statement(signed), signature):
        raise InputError("erasure entry signature does not verify")
    return erasure


def target_of(canonical: bytes) -> int | None:
    """The seq an erasure entry names, read without trusting it; None if it names none."""
    try:
        return _int(_member(canonical, ERASURE_MEMBER, "erasure entry")["seq"])
    except (InputError, KeyError):
        return None


def _member(canonical: bytes, member: str, what: str) -> dict[str, Any]:
    try:
        document = orjson.loads(canonical)
    except orjson.JSONDecodeError:
        raise InputError(f"{what} is not JSON") from None
    body = document.get(member) if isinstance(document, dict) else None
    if not isinstance(body, dict) or len(document) != 1:
        raise InputError(f"{what} is not an object with the one member {member!r}")
    return body


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InputError(f"{value!r} is not a seq")
    return value


def _hex(value: object) -> str:
    if not isinstance(value, str) or not _DIGEST.fullmatch(value):
        raise InputError("a SHA-256 digest is 64 lowercase hex digits")
    return value


def _text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"erasure entry has an empty {name}")
    return value
