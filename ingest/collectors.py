"""Bearer tokens of HTTP collectors, and the webhook HMAC check.

Tokens are stored only as SHA-256 digests in ``HOME/collectors.json`` (0600), so
the file does not grant access; comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

__all__ = ["CollectorTokens", "valid_hub_signature"]


def valid_hub_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """GitHub's ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``."""
    if not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


class CollectorTokens:
    def __init__(self, home: Path) -> None:
        self.path = home / "collectors.json"

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        return {str(k): str(v) for k, v in data.items()}

    def names(self) -> list[str]:
        return sorted(self._load())

    def add(self, name: str) -> str:
        """Create (or replace) the collector's token; the token is returned once, never stored."""
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError("a collector name is letters, digits, '-' and '_'")
        token = "vst_" + secrets.token_urlsafe(32)
        tokens = self._load()
        tokens[name] = hashlib.sha256(token.encode()).hexdigest()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(tokens, out, indent=2, sort_keys=True)
        os.replace(temporary, self.path)
        return token

    def collector_of(self, token: str | None) -> str | None:
        """The collector a bearer token belongs to, or None."""
        if not token:
            return None
        digest = hashlib.sha256(token.encode()).hexdigest().encode()
        found = None
        for name, stored in self._load().items():  # every entry compared: no early exit
            if hmac.compare_digest(digest, stored.encode()):
                found = name
        return found
