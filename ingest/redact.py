"""Finding and redacting secrets before anything is stored.

A secret is replaced by ``[REDACTED:<kind>:<fingerprint>]``; the fingerprint is
HMAC-SHA256 under a per-home salt (truncated to 128 bits), so the same secret
seen twice still correlates while the stored text reveals nothing that can be
brute-forced without the salt. Two detectors:
- by member name (``sessionToken``, ``password``, ...): the whole value is secret;
- by value shape (GitHub tokens, private key blocks, bearer tokens, Vault
  tokens, JWTs, AWS session tokens): only the matching text is replaced.
Values that are already HMACs (Vault audit ``hmac-sha256:...``) are left alone.
A whole-record scan of the canonical bytes decides whether a walk is needed at all.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger import VestigeError

__all__ = ["Finding", "Redactor", "load_salt"]

_SENSITIVE_MEMBERS = (
    r"secret_?access_?key|aws_?secret(?:_?key)?|session_?token|secret_?key|password|passwd"
    r"|client_?secret|private_?key|api_?key|access_?token|refresh_?token|id_?token|authorization"
)
# ASCII-only matching: sources name members in ASCII, and the prefilter below can then
# scan bytes without folding Unicode look-alikes.
_NAME = re.compile(rf"^(?:{_SENSITIVE_MEMBERS})\Z", re.IGNORECASE | re.ASCII)
_VALUE_PATTERNS: tuple[tuple[str, str], ...] = (
    (
        "private-key",
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:.|\\n|\n)*?-----END [A-Z0-9 ]*PRIVATE KEY-----",
    ),
    ("github-token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,244})\b"),
    ("bearer-token", r"(?i:\bbearer)\s+[A-Za-z0-9\-._~+/]{16,}=*"),
    ("vault-token", r"\bhv[sbr]\.[A-Za-z0-9_-]{24,}"),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    # STS session tokens start with these encodings of their protobuf header.
    ("aws-session-token", r"\b(?:IQoJb3JpZ2luX2Vj|FwoGZXIvYXdzE|FQoGZXIvYXdzE)[A-Za-z0-9/+=]{40,}"),
    ("aws-secret-access-key", r"(?i:aws_secret_access_key)\s*[=:]\s*[A-Za-z0-9/+]{40}"),
)
_VALUE = re.compile(
    "|".join(f"(?P<{k.replace('-', '_')}>{p})" for k, p in _VALUE_PATTERNS), re.ASCII
)
# The prefilter ``needs_walk`` runs on every record's JSON text (RFC 8785 or orjson bytes):
# it must say True whenever the walk could find something, and be cheap when it cannot.
# The regex engine only scans fast (about a byte a nanosecond) when a pattern starts with
# one literal, so each scan below starts at an uncommon literal byte and checks the text
# around it with lookbehinds; no scan lower-cases the text.
#
# Member names (_NAME) are keys, ``"name":``. Every variant of every name but
# authorization ends with one of these five-letter tails (sessionToken -> token,
# api_key -> i_key, passwd -> asswd, ...); ``tests/ingest/test_redact.py`` checks each
# spelling. _TAIL_SHAPE: the letters a name can have at its last four places, a cheap
# test before the full one.
_MEMBER_TAILS = "sskey|s_key|etkey|t_key|tekey|e_key|pikey|i_key|ecret|token|sword|asswd"
_TAIL_SHAPE = "[_sStTeEiIcCoOwW][kKrRoOsSiI][eErRwWoO][yYtTnNdD]"
_PREFILTERS = tuple(
    re.compile(pattern.encode())
    for pattern in (
        rf'":(?<={_TAIL_SHAPE}":)(?:(?<=(?i:{_MEMBER_TAILS})":)|(?<=(?i:authorization)":))',
        # The literal cores of the _VALUE patterns ("\b" left out: in JSON text an escape
        # such as \n can stand before a token). In JSON text, the whitespace after "bearer"
        # is a space or an escape (\t, \n, \u000b, ...).
        r"_(?:(?<=gh[pousr]_)[A-Za-z0-9]{36}|(?<=github_)pat_[A-Za-z0-9_]{22}"
        r"|(?<=(?i:aws)_)(?i:secret_access_key))",
        r"\.(?:(?<=hv[sbr]\.)[A-Za-z0-9_-]{24}|eyJ[A-Za-z0-9_-]{8})",
        r" (?:(?<=-----BEGIN )[A-Z0-9 ]*PRIVATE KEY-----|(?<=(?i:bearer) ))",
        r"\\(?<=(?i:bearer)\\)",
        r"Z(?:(?<=IQoJb3JpZ)2luX2Vj|(?<=F[wQ]oGZ)XIvYXdzE)",
        r'"Secret"',  # a Kubernetes Secret object
    )
)
# For bytes that are not JSON: a secret-named member's string value, and the value shapes.
_MEMBER_VALUE_BYTES = re.compile(
    rf'("(?:{_SENSITIVE_MEMBERS})"\s*:\s*")((?:[^"\\]|\\.)*)"'.encode(), re.IGNORECASE
)
_VALUE_BYTES = re.compile("|".join(p for _, p in _VALUE_PATTERNS).encode())
_HMACED = "hmac-sha256:"
# What sources print in place of a secret they withheld themselves: not an exposure.
_PLACEHOLDER = re.compile(r"^(?:HIDDEN_DUE_TO_SECURITY_REASONS|\*+|x+|<?redacted>?|)\Z", re.I)


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
        for scan in _PREFILTERS:
            if scan.search(json_text):
                return True
        return False

    def redact(self, value: Any) -> tuple[Any, list[Finding]]:
        """A copy of ``value`` with secrets replaced, and what was found where."""
        findings: list[Finding] = []
        return self._walk(value, "$", findings), findings

    def redact_bytes(self, data: bytes) -> bytes:
        """Secrets replaced in bytes that are not (valid) JSON, for the quarantine: the
        string after a secret-named member, and secret-shaped text anywhere."""

        def member(match: re.Match[bytes]) -> bytes:
            secret = match.group(2).decode("utf-8", "replace")
            return match.group(1) + self._mark("secret", secret).encode() + b'"'

        def shape(match: re.Match[bytes]) -> bytes:
            return self._mark("secret", match.group(0).decode("utf-8", "replace")).encode()

        return _VALUE_BYTES.sub(shape, _MEMBER_VALUE_BYTES.sub(member, data))

    def _mark(self, kind: str, secret: str) -> str:
        return f"[REDACTED:{kind}:{self.fingerprint(secret)}]"

    def _walk(self, value: Any, path: str, findings: list[Finding]) -> Any:
        if isinstance(value, dict):
            # A Kubernetes Secret (in audit request/response objects): every value of its
            # data and stringData is secret, whatever its key is called.
            k8s_secret = value.get("kind") == "Secret"
            out: dict[str, Any] = {}
            for key, item in value.items():
                where = f"{path}.{key}"
                if k8s_secret and key in ("data", "stringData") and isinstance(item, dict):
                    out[key] = {
                        name: self._replace_whole("k8s-secret", str(data), f"{where}.{name}",
                                                  findings) if _is_secret(data) else data
                        for name, data in item.items()
                    }  # fmt: skip
                elif _NAME.match(key) and _is_secret(item):
                    out[key] = self._replace_whole(key, str(item), where, findings)
                else:
                    out[key] = self._walk(item, where, findings)
            return out
        if isinstance(value, list):
            return [self._walk(item, f"{path}[{i}]", findings) for i, item in enumerate(value)]
        if isinstance(value, str) and not value.startswith(_HMACED):
            return self._replace_shapes(value, path, findings)
        return value

    def _replace_whole(self, key: str, secret: str, path: str, findings: list[Finding]) -> str:
        kind = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|[^A-Za-z0-9]+", "-", key).strip("-").lower()
        return self._found(kind, secret, path, findings)

    def _replace_shapes(self, text: str, path: str, findings: list[Finding]) -> str:
        def replace(match: re.Match[str]) -> str:
            kind = (match.lastgroup or "secret").replace("_", "-")
            return self._found(kind, match.group(0), path, findings)

        return _VALUE.sub(replace, text)

    def _found(self, kind: str, secret: str, path: str, findings: list[Finding]) -> str:
        """Record a finding; its mark, with the fingerprint computed once."""
        fingerprint = self.fingerprint(secret)
        findings.append(Finding(kind, path, fingerprint))
        return f"[REDACTED:{kind}:{fingerprint}]"


def _is_secret(value: object) -> bool:
    """Is this value, under a secret name, a secret (not a placeholder, HMAC or mark)?"""
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and not (
        value.startswith(("[REDACTED:", _HMACED)) or _PLACEHOLDER.match(value) is not None
    )
