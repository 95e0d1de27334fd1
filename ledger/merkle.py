"""RFC 9162 Merkle tree arithmetic: hashes, proofs and their verification.

Pure functions over values; storage decides where node hashes come from.
A proof element is the hash of a leaf range ``[lo, hi)`` (RFC 9162 2.1.1:
MTH(D[lo:hi])). Every such range splits into *perfect* subtrees, each named
``(level, index)`` and covering leaves ``[index << level, (index + 1) << level)``.
Perfect subtrees never change once complete, so they can be stored; a proof
for any tree size reads O(log n) of them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "GENESIS_CHAIN",
    "CompactRange",
    "NodeKey",
    "chain_hash",
    "consistency_ranges",
    "fold_range",
    "inclusion_ranges",
    "leaf_hash",
    "node_hash",
    "perfect_subtrees",
    "verify_consistency",
    "verify_inclusion",
]

NodeKey = tuple[int, int]
"""A perfect subtree: (level, index); level 0 is a leaf."""

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 9162 2.1.1: MTH({}) = HASH()
GENESIS_CHAIN = bytes(32)  # our policy: the hash chain starts from 32 zero bytes


def leaf_hash(canonical: bytes) -> bytes:
    """RFC 9162 2.1.1: MTH({d}) = HASH(0x00 || d)."""
    return hashlib.sha256(b"\x00" + canonical).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 2.1.1: interior node HASH(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def chain_hash(previous: bytes, leaf: bytes) -> bytes:
    """Our hash chain: SHA-256(previous chain hash || leaf hash)."""
    return hashlib.sha256(previous + leaf).digest()


def _split(size: int) -> int:
    """RFC 9162 2.1.1: the largest power of two smaller than ``size`` (> 1)."""
    return 1 << ((size - 1).bit_length() - 1)


def perfect_subtrees(lo: int, hi: int) -> list[NodeKey]:
    """The perfect subtrees, left to right, whose fold is MTH(D[lo:hi]).

    Holds for the ranges that RFC 9162 proofs and roots use: ``lo`` aligned
    to the largest power of two not exceeding ``hi - lo``.
    """
    keys: list[NodeKey] = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        if lo:
            level = min(level, (lo & -lo).bit_length() - 1)
        keys.append((level, lo >> level))
        lo += 1 << level
    return keys


def fold_range(hashes: Sequence[bytes]) -> bytes:
    """Combine the hashes of :func:`perfect_subtrees` into the range's hash."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """RFC 9162 2.1.3.1 PATH(index, D[size]) as leaf ranges, leaf side first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    path: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append((lo + k, hi))
            hi = lo + k
        else:
            path.append((lo, lo + k))
            lo += k
    path.reverse()
    return path


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """RFC 9162 2.1.4.1 PROOF(old_size, D[new_size]) as leaf ranges."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
    if old_size in (0, new_size):
        return []
    proof: list[tuple[int, int]] = []
    lo, hi, m, whole = 0, new_size, old_size, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append((lo + k, hi))
            hi = lo + k
        else:
            proof.append((lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        proof.append((lo, hi))
    proof.reverse()
    return proof


def _all_hashes(*values: bytes) -> bool:
    return all(len(value) == HASH_SIZE for value in values)


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 2.1.3.2: does ``proof`` place ``leaf`` at ``index`` under ``root``?"""
    if not 0 <= index < size or not _all_hashes(leaf, root, *proof):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: is the tree ``new_root`` an append-only extension of ``old_root``?"""
    if old_size == new_size:
        return not proof and old_size > 0 and old_root == new_root
    # RFC 9162 2.1.4.2 defines proofs for 0 < first < second only; an empty
    # old tree proves nothing, and callers treat it on its own.
    if not 0 < old_size < new_size or not proof:
        return False
    if not _all_hashes(old_root, new_root, *proof):
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


@dataclass
class CompactRange:
    """The right edge of a growing tree: one perfect subtree per set bit of ``size``.

    Appending a leaf merges equal-level subtrees, which is exactly when a new
    perfect subtree becomes complete.
    """

    size: int = 0
    hashes: list[bytes] = field(default_factory=list)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf; return every perfect subtree it completes, lowest level first."""
        index = self.size
        self.size += 1
        node, level = leaf, 0
        completed = [(level, index, node)]
        while index & 1:
            node = node_hash(self.hashes.pop(), node)
            level, index = level + 1, index >> 1
            completed.append((level, index, node))
        self.hashes.append(node)
        return completed

    def root(self) -> bytes:
        return fold_range(self.hashes)
