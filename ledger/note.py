"""C2SP signed-note envelopes with Ed25519 keys.

A note is UTF-8 text ending in a newline, a blank line, then one line per
signature: an em dash, the key name and base64(key ID || signature). The key
ID is the first 4 bytes of SHA-256(name || "\\n" || 0x01 || public key); 0x01
marks Ed25519 (C2SP signed-note, "Signatures" and "Ed25519").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field

import nacl.exceptions
import nacl.signing

from ledger.errors import InputError

__all__ = ["NoteSignature", "Signer", "Verifier", "open_note", "sign_note", "split_note"]

_ED25519 = b"\x01"
_SIGNATURE_PREFIX = "\u2014 "  # em dash and a space


def _check_name(name: str) -> str:
    # C2SP signed-note: a key name is non-empty and has no Unicode spaces or "+".
    if not name or "+" in name or any(ch.isspace() for ch in name):
        raise InputError(f"invalid key name {name!r}: must be non-empty, no spaces or '+'")
    return name


def _key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + public).digest()[:4]


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"{what} is not valid base64") from exc


@dataclass(frozen=True)
class Verifier:
    """A public Ed25519 key with its signed-note name and key ID."""

    name: str
    public: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.public) != 32:
            raise InputError("an Ed25519 public key is 32 bytes")

    @property
    def key_id(self) -> bytes:
        return _key_id(self.name, self.public)

    def encode(self) -> str:
        """The standard verifier key: name+hex key ID+base64(0x01 || public key)."""
        encoded = base64.b64encode(_ED25519 + self.public).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    @classmethod
    def parse(cls, text: str) -> Verifier:
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise InputError("a verifier key reads NAME+KEYID+BASE64KEY")
        name, key_id, encoded = parts
        raw = _b64decode(encoded, "verifier key")
        if len(raw) != 33 or raw[:1] != _ED25519:
            raise InputError("verifier key is not an Ed25519 key (type 0x01, 32 bytes)")
        verifier = cls(name, raw[1:])
        if verifier.key_id.hex() != key_id.lower():
            raise InputError(f"verifier key ID {key_id} does not match its name and key")
        return verifier

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            nacl.signing.VerifyKey(self.public).verify(message, signature)
        except nacl.exceptions.BadSignatureError:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A private Ed25519 key. Its seed is never printed: see ``__repr__``."""

    name: str
    seed: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.seed) != 32:
            raise InputError("an Ed25519 private seed is 32 bytes")

    @classmethod
    def generate(cls, name: str) -> Signer:
        return cls(name, bytes(nacl.signing.SigningKey.generate()))

    @property
    def verifier(self) -> Verifier:
        public = bytes(nacl.signing.SigningKey(self.seed).verify_key)
        return Verifier(self.name, public)

    def sign(self, message: bytes) -> bytes:
        return nacl.signing.SigningKey(self.seed).sign(message).signature

    def encode(self) -> str:
        """The private key in the Go ``note`` package's PRIVATE+KEY form."""
        verifier = self.verifier
        encoded = base64.b64encode(_ED25519 + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{verifier.key_id.hex()}+{encoded}"

    @classmethod
    def parse(cls, text: str) -> Signer:
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise InputError("a private key reads PRIVATE+KEY+NAME+KEYID+BASE64KEY")
        raw = _b64decode(parts[4], "private key")
        if len(raw) != 33 or raw[:1] != _ED25519:
            raise InputError("private key is not an Ed25519 key")
        signer = cls(parts[2], raw[1:])
        if signer.verifier.key_id.hex() != parts[3].lower():
            raise InputError("private key ID does not match its key")
        return signer


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note, not yet checked."""

    name: str
    key_id: bytes
    signature: bytes


def sign_note(text: str, signers: list[Signer]) -> str:
    """Sign ``text`` (which must end in a newline) with every signer."""
    if not text.endswith("\n") or "\n\n" in text:
        raise ValueError("note text must end in a newline and contain no blank line")
    lines = []
    for signer in signers:
        blob = signer.verifier.key_id + signer.sign(text.encode())
        lines.append(f"{_SIGNATURE_PREFIX}{signer.name} {base64.b64encode(blob).decode()}\n")
    return text + "\n" + "".join(lines)


def split_note(note: str) -> tuple[str, list[NoteSignature]]:
    """Split a note into its text and its signature lines; refuse malformed notes."""
    text, sep, block = note.rpartition("\n\n")
    if not sep or not block.endswith("\n"):
        raise InputError("not a signed note: no blank line before the signatures")
    text += "\n"
    signatures = []
    for line in block[:-1].split("\n"):
        if not line.startswith(_SIGNATURE_PREFIX):
            raise InputError(f"malformed signature line {line!r}")
        name, _, encoded = line[len(_SIGNATURE_PREFIX) :].rpartition(" ")
        blob = _b64decode(encoded, "note signature")
        if len(blob) < 5:
            raise InputError("note signature too short")
        signatures.append(NoteSignature(name, blob[:4], blob[4:]))
    return text, signatures


def open_note(note: str, verifiers: list[Verifier]) -> tuple[str, list[Verifier]]:
    """The note's text and the known verifiers whose signatures on it are valid.

    Signatures by unknown keys are ignored, as the spec asks; a signature by a
    known key that does not verify makes the whole note invalid.
    """
    text, signatures = split_note(note)
    known = {(v.name, v.key_id): v for v in verifiers}
    valid: list[Verifier] = []
    for sig in signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            continue
        if not verifier.verify(text.encode(), sig.signature):
            raise InputError(f"signature by {verifier.encode()} does not verify")
        valid.append(verifier)
    return text, valid
