"""C2SP tlog-checkpoint bodies: origin, tree size and root hash, one per line."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from ledger.errors import InputError
from ledger.merkle import HASH_SIZE
from ledger.note import split_note

__all__ = ["Checkpoint"]


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def __post_init__(self) -> None:
        # C2SP tlog-checkpoint: the origin is a non-empty line; the size a
        # non-negative decimal; the root a hash of the log's hash function.
        if not self.origin or "\n" in self.origin:
            raise InputError("checkpoint origin must be one non-empty line")
        if self.size < 0 or len(self.root) != HASH_SIZE:
            raise InputError("checkpoint needs a size >= 0 and a 32-byte root")

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def claimed_by(cls, note: str) -> Checkpoint:
        """The checkpoint a signed note carries, its signatures NOT checked.

        Only for deciding when or whether to check it; trust needs verify.check_note.
        """
        text, _ = split_note(note)
        return cls.parse(text)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Read a checkpoint body; extension lines after the root are ignored."""
        lines = text.split("\n")
        if len(lines) < 4 or not text.endswith("\n"):
            raise InputError("a checkpoint body has an origin, a size and a root line")
        origin, size, root = lines[:3]
        if not size.isdigit() or (size.startswith("0") and size != "0"):
            raise InputError(f"checkpoint size {size!r} is not a decimal number")
        try:
            raw_root = base64.b64decode(root, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InputError("checkpoint root is not base64") from exc
        return cls(origin, int(size), raw_root)
