"""The signing keys of one ledger, kept under ``VESTIGE_HOME/keys``.

Layout: ``keyring.json`` lists verifier keys oldest first (the first is the
ledger's trust anchor, the last signs new checkpoints); each private key is
``<key ID>.key`` in the signed-note private-key form, mode 0600, in a 0700
folder. Private keys are never printed or logged.

Rotation is recorded in the ledger: an entry whose only member is
``vestige_key_rotation``, carrying the new verifier key and a signature by the
previous key over the rotation statement, so a verifier who trusts the anchor
can follow every later key. The old private key is deleted once the new key
is in use; its public half stays in the ring so old checkpoints verify.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

import rfc8785

from ledger.errors import InputError, VestigeError
from ledger.note import Signer, Verifier

__all__ = ["ROTATION_MEMBER", "KeyRing", "rotation_entry", "rotation_signer"]

ROTATION_MEMBER = "vestige_key_rotation"
_ROTATION_CONTEXT = b"vestige key rotation v1\n"


def _statement(origin: str, old: Verifier, new: Verifier) -> bytes:
    body = {"origin": origin, "old_key": old.encode(), "new_key": new.encode()}
    return _ROTATION_CONTEXT + bytes(rfc8785.dumps(body))


def rotation_entry(origin: str, old: Signer, new: Verifier) -> dict[str, object]:
    """The ledger entry announcing ``new``, signed by the key it replaces."""
    signature = old.sign(_statement(origin, old.verifier, new))
    return {
        ROTATION_MEMBER: {
            "origin": origin,
            "old_key": old.verifier.encode(),
            "new_key": new.encode(),
            "signature": base64.b64encode(signature).decode(),
        }
    }


def rotation_signer(
    origin: str, record: object, active: list[Verifier]
) -> tuple[Verifier, Verifier]:
    """(old key, new key) of a rotation entry, if an active key signed it.

    Raises :class:`InputError` naming what is wrong otherwise.
    """
    if not isinstance(record, dict):
        raise InputError("rotation entry is not an object")
    try:
        old = Verifier.parse(str(record["old_key"]))
        new = Verifier.parse(str(record["new_key"]))
        signature = base64.b64decode(str(record["signature"]), validate=True)
    except (KeyError, ValueError) as exc:
        raise InputError(f"rotation entry is malformed: {exc}") from exc
    if record.get("origin") != origin:
        raise InputError("rotation entry names another ledger")
    if old not in active:
        raise InputError(f"rotation entry signed by a key that is not active: {old.encode()}")
    if not old.verify(_statement(origin, old, new), signature):
        raise InputError("rotation entry signature does not verify")
    return old, new


@dataclass(frozen=True)
class KeyRing:
    """The key folder of one home."""

    folder: Path

    @classmethod
    def at(cls, home: Path) -> KeyRing:
        return cls(home / "keys")

    @property
    def _index(self) -> Path:
        return self.folder / "keyring.json"

    def exists(self) -> bool:
        return self._index.exists()

    def verifiers(self) -> list[Verifier]:
        """Verifier keys, oldest (the anchor) first."""
        if not self.exists():
            raise VestigeError(f"no keys in {self.folder}: run `vestige init` first")
        listed = json.loads(self._index.read_text())["keys"]
        return [Verifier.parse(text) for text in listed]

    def signer(self) -> Signer:
        """The current signing key (the newest)."""
        current = self.verifiers()[-1]
        path = self.folder / f"{current.key_id.hex()}.key"
        try:
            signer = Signer.parse(path.read_text())
        except FileNotFoundError:
            raise VestigeError(f"private key for {current.encode()} is missing") from None
        if signer.verifier != current:
            raise VestigeError(f"private key file {path.name} does not match the key ring")
        return signer

    def add(self, signer: Signer) -> None:
        """Store a new private key and make it the current signer."""
        self.store_private(signer)
        self.promote(signer.verifier)

    def store_private(self, signer: Signer) -> None:
        """Write the private key, 0600 from its first byte, never overwriting one."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.folder, 0o700)
        path = self.folder / f"{signer.verifier.key_id.hex()}.key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(signer.encode() + "\n")

    def forget_private(self, verifier: Verifier) -> None:
        """Delete a retired private key; its public half stays in the ring."""
        (self.folder / f"{verifier.key_id.hex()}.key").unlink(missing_ok=True)

    def promote(self, verifier: Verifier) -> None:
        """Append ``verifier`` to the ring, making it the current signing key."""
        listed = [v.encode() for v in self.verifiers()] if self.exists() else []
        listed.append(verifier.encode())
        tmp = self._index.with_suffix(".tmp")
        tmp.write_text(json.dumps({"keys": listed}, indent=2) + "\n")
        tmp.replace(self._index)
