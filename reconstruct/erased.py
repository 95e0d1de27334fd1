"""Erased entries among the entries a report rests on: tombstones and their erasure entries.

An erased entry's bytes are gone; what a report can show is its tombstone, whose leaf
hash the inclusion proof places in the tree, and the signed erasure entry that names
it. The same test runs when a report is built and when it is verified offline. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import orjson

from ledger import InputError, Tombstone, Verifier, parse_erasure
from reconstruct.model import ErasedMark

__all__ = ["erasure_seqs", "erased_marks"]


def erasure_seqs(canonicals: Mapping[int, bytes]) -> set[int]:
    """The erasure entries the tombstones among ``canonicals`` name."""
    found = set()
    for canonical in canonicals.values():
        if Tombstone.holds(canonical):
            try:
                found.add(Tombstone.parse(canonical).erasure_seq)
            except InputError:
                continue  # not a tombstone after all: the entry is broken, shown as such
    return found


def erased_marks(
    tombstones: Mapping[int, tuple[bytes, bytes]],
    entries: Mapping[int, bytes],
    origin: str | None,
    keys: Sequence[Verifier] | None,
) -> dict[int, ErasedMark]:
    """The tombstones (seq -> (bytes, proved leaf hash)) that a proved erasure entry in
    ``entries``, signed by one of ``keys`` for ``origin``, covers. Others are left out:
    the caller counts them as entries that fail verification.

    ``keys`` and ``origin`` None: take the erasure entry's word for both (a quick look
    that verifies nothing, as ``assess_workspace``; reports prove and check everything).
    """
    marks: dict[int, ErasedMark] = {}
    for seq, (canonical, leaf) in tombstones.items():
        try:
            tombstone = Tombstone.parse(canonical)
            stated = entries.get(tombstone.erasure_seq)
            if stated is None or tombstone.seq != seq:
                continue
            trusted = (origin, keys) if keys is not None and origin is not None else None
            erasure = parse_erasure(stated, *(trusted or _claimed(stated)))
        except InputError:
            continue
        if (erasure.seq, erasure.leaf_hash) == (seq, leaf) and erasure.tombstone(
            tombstone.erasure_seq
        ) == tombstone:
            marks[seq] = ErasedMark(
                erasure_seq=tombstone.erasure_seq,
                erased_at=erasure.erased_at,
                requested_by=erasure.requested_by,
                reason=erasure.reason,
                removed_sha256=erasure.removed_sha256,
            )
    return marks


def _claimed(erasure: bytes) -> tuple[str, list[Verifier]]:
    """The origin and key an erasure entry names, unchecked."""
    try:
        body = orjson.loads(erasure)["vestige_erasure"]
        return str(body["origin"]), [Verifier.parse(str(body["key"]))]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(f"not an erasure entry: {exc}") from None
