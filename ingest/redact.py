"""Finding and redacting secrets before anything is stored.

A secret is replaced by ``[REDACTED:<kind>:<fingerprint>]``; the fingerprint is
HMAC-SHA256 under a per-home salt (truncated to 128 bits), so the same secret
seen twice still correlates while the stored text reveals nothing that can be
brute-forced without the salt. What counts as a secret is in
:mod:`ingest.secret_rules`; here it is applied to decoded records (member names,
name/value pairs, Kubernetes Secrets, and every string and object key as text),
to bytes that are not JSON, and to the headers and reasons stored in the quarantine.
A whole-record scan of the JSON text decides whether a walk is needed at all.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.secret_rules import (
    ASSIGNMENT,
    PAIR,
    SHAPES,
    is_placeholder,
    is_secret_name,
    might_hold_secret,
    normalize_name,
)
from ledger import VestigeError

__all__ = ["Finding", "Redactor", "load_salt"]

# Name/value pair idioms (normalized member names): Kubernetes and ECS env, CloudFormation
# parameters, Terraform variables, GitHub Actions secrets and variables, HAR headers.
_PAIR_NAMES = ("name", "key", "parameterkey", "variable", "optionname")
_PAIR_VALUES = ("value", "parametervalue", "encryptedvalue", "secretvalue")
# Headers whose whole value is a credential or a MAC made with one.
_SECRET_HEADERS = ("proxy-authorization", "set-cookie", "x-hub-signature")
_MAX_KIND = 64


@dataclass(frozen=True)
class Finding:
    kind: str
    path: str
    fingerprint: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "path": self.path, "fingerprint": self.fingerprint}


def load_salt(home: Path) -> bytes:
    """The home's redaction salt (32 random bytes, file mode 0600), created on first use.

    Written to a private temporary file and linked into place, so concurrent first
    uses agree on one salt and nobody reads a half-written one.
    """
    path = home / "redaction.salt"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        temporary = home / f".redaction.salt.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, os.urandom(32))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process won; use its salt
        finally:
            temporary.unlink()
    salt = path.read_bytes()
    if len(salt) != 32:
        raise VestigeError(f"{path} is not a 32-byte redaction salt")
    return salt


@dataclass
class Redactor:
    salt: bytes = field(repr=False)

    def fingerprint(self, secret: str) -> str:
        digest = hmac.new(self.salt, secret.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return digest.hexdigest()[:32]

    def needs_walk(self, json_text: bytes) -> bool:
        """Could ``json_text`` hold a secret? False means it certainly holds none we detect."""
        return might_hold_secret(json_text)

    def redact(self, value: Any) -> tuple[Any, list[Finding]]:
        """A copy of ``value`` with secrets replaced, and what was found where."""
        findings: list[Finding] = []
        return self._walk(value, "$", findings), findings

    def redact_text(self, text: str, path: str = "$") -> str:
        """``text`` with every secret shape and secret-named assignment in it replaced."""
        return self._text(text, path, [])

    def redact_bytes(self, data: bytes) -> bytes:
        """Secrets replaced in bytes that are not (valid) JSON, for the quarantine. Bytes
        that are not UTF-8 pass through unchanged (surrogate escapes)."""
        if not might_hold_secret(data):
            return data
        text = data.decode("utf-8", "surrogateescape")
        return self.redact_text(text).encode("utf-8", "surrogateescape")

    def redact_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Request headers as the quarantine keeps them: credentials and signatures
        replaced whole, secrets anywhere else in a value replaced as text."""
        out: dict[str, str] = {}
        for name, value in headers.items():
            lowered = name.lower()
            if (lowered.startswith(_SECRET_HEADERS) or is_secret_name(name)) and not is_placeholder(
                value
            ):
                kept = self._mark(_kind_of(lowered), value)
            else:
                kept = self.redact_text(value)
            _put(out, self.redact_text(name), kept)
        return out

    def _mark(self, kind: str, secret: str) -> str:
        return f"[REDACTED:{kind}:{self.fingerprint(secret)}]"

    def _walk(self, value: Any, path: str, findings: list[Finding]) -> Any:
        if isinstance(value, dict):
            return self._walk_object(value, path, findings)
        if isinstance(value, list):
            return [self._walk(item, f"{path}[{i}]", findings) for i, item in enumerate(value)]
        if isinstance(value, str):
            return self._text(value, path, findings)
        return value

    def _walk_object(self, value: dict[str, Any], path: str, findings: list[Finding]) -> Any:
        # A Kubernetes Secret (in audit request/response objects): every value of its
        # data and stringData is secret, whatever its key is called.
        k8s_secret = value.get("kind") == "Secret"
        pair_kind = _pair_kind(value)
        out: dict[str, Any] = {}
        for key, item in value.items():
            # An object key is text like any other: a token used as a key is replaced too.
            # Paths name the replaced key, never the secret.
            name = self._text(key, f"{path}[key]", findings) if might_hold(key) else key
            where = f"{path}.{name}"
            if k8s_secret and key in ("data", "stringData") and isinstance(item, dict):
                kept: Any = {
                    data_key: self._found("k8s-secret", str(data), f"{where}.{data_key}",
                                          findings) if _is_secret(data) else data
                    for data_key, data in item.items()
                }  # fmt: skip
                kept = self._walk(kept, where, findings)  # the data keys, as text
            elif pair_kind and normalize_name(key) in _PAIR_VALUES and _is_secret(item):
                kept = self._found(pair_kind, str(item), where, findings)
            elif is_secret_name(key) and _is_secret(item):
                kept = self._found(_kind_of(key), str(item), where, findings)
            else:
                kept = self._walk(item, where, findings)
            _put(out, name, kept)
        return out

    def _text(self, text: str, path: str, findings: list[Finding]) -> str:
        if not might_hold(text):
            return text
        for shape in SHAPES:
            text = self._sweep(shape.pattern, text, lambda _m, k=shape.kind: k, path, findings)
        text = self._sweep(PAIR, text, _named_kind, path, findings)
        return self._sweep(ASSIGNMENT, text, _named_kind, path, findings)

    def _sweep(
        self,
        pattern: re.Pattern[str],
        text: str,
        judge: Any,
        path: str,
        findings: list[Finding],
    ) -> str:
        """Replace the secret part of each match of ``pattern`` for which ``judge`` names a
        kind. A match judged harmless is searched again from where its value starts, so
        a secret inside it (``note=token=...``) is still found."""
        pieces: list[str] = []
        done = 0
        search_from = 0
        while (match := pattern.search(text, search_from)) is not None:
            group = _secret_group(match)
            start, end = match.span(group)
            secret = text[start:end]
            kind = judge(match) if secret and not is_placeholder(secret) else None
            if kind is None:
                search_from = start if start > match.start() else match.end()
                continue
            pieces += (text[done:start], self._found(kind, secret, path, findings))
            done = search_from = end
        if not pieces:
            return text
        pieces.append(text[done:])
        return "".join(pieces)

    def _found(self, kind: str, secret: str, path: str, findings: list[Finding]) -> str:
        """Record a finding; its mark, with the fingerprint computed once."""
        fingerprint = self.fingerprint(secret)
        findings.append(Finding(kind, path, fingerprint))
        return f"[REDACTED:{kind}:{fingerprint}]"


def might_hold(text: str) -> bool:
    return might_hold_secret(text.encode("utf-8", "surrogatepass"))


def _secret_group(match: re.Match[str]) -> str:
    """The group that holds the secret: ``v`` for shapes, the value's for assignments."""
    groups = match.groupdict()
    for name in ("v", "dq", "sq", "eq", "bare"):
        if groups.get(name) is not None:
            return name
    return "v"


def _named_kind(match: re.Match[str]) -> str | None:
    name = match.group("name")
    return _kind_of(name) if is_secret_name(name) else None


def _kind_of(name: str) -> str:
    """The kind of a secret found by its name: the name in kebab case (``sessionToken`` ->
    ``session-token``)."""
    kind = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|[^A-Za-z0-9]+", "-", name).strip("-").lower()
    return kind[-_MAX_KIND:].strip("-") or "secret"


def _pair_kind(value: dict[str, Any]) -> str | None:
    """For a name/value pair whose name is secret-like, the kind of its value."""
    for key, item in value.items():
        if normalize_name(key) in _PAIR_NAMES and isinstance(item, str):
            if is_secret_name(item):
                return _kind_of(item)
    return None


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    """Store under ``key``, or under ``key#2``, ``key#3``... when two keys became one
    (two tokens replaced by the same mark, or a mark already present): nothing is lost."""
    unique, n = key, 1
    while unique in out:
        n += 1
        unique = f"{key}#{n}"
    out[unique] = value


def _is_secret(value: object) -> bool:
    """Is this value, under a secret name, a secret (not a placeholder, HMAC or mark)?"""
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and not is_placeholder(value)
