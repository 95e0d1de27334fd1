"""Bearer tokens of HTTP collectors, and the webhook HMAC check.

Tokens are stored only as SHA-256 digests in ``HOME/collectors.json`` (0600), so
the file does not grant access; comparisons are constant-time. A token may be
bound to the CloudEvent ``source`` values (shell globs) it may send; an unbound
token may send any. The file maps a name to its digest (unbound; the older form)
or to ``{"sha256": digest, "sources": [globs]}``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        return {
            str(name): entry if isinstance(entry, dict) else {"sha256": str(entry)}
            for name, entry in data.items()
        }

    def names(self) -> list[str]:
        return sorted(self._load())

    def bindings(self) -> dict[str, list[str] | None]:
        """Each collector's allowed ``source`` globs; None for an unbound one."""
        return {name: _sources(entry) for name, entry in sorted(self._load().items())}

    def sources_of(self, name: str) -> tuple[str, ...] | None:
        """The CloudEvent ``source`` globs collector ``name`` may send; None: any."""
        patterns = _sources(self._load().get(name, {}))
        return None if patterns is None else tuple(patterns)

    def add(self, name: str, sources: Sequence[str] = ()) -> str:
        """Create (or replace) the collector's token; the token is returned once, never stored.

        ``sources`` binds the token to those CloudEvent ``source`` globs (none: unbound).
        """
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError("a collector name is letters, digits, '-' and '_'")
        if any(not pattern or pattern.isspace() for pattern in sources):
            raise ValueError("a --source pattern may not be empty")
        token = "vst_" + secrets.token_urlsafe(32)
        tokens: dict[str, Any] = self._load()
        digest = hashlib.sha256(token.encode()).hexdigest()
        tokens[name] = {"sha256": digest, "sources": sorted(set(sources))} if sources else digest
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
        for name, entry in self._load().items():  # every entry compared: no early exit
            if hmac.compare_digest(digest, str(entry.get("sha256", "")).encode()):
                found = name
        return found


def _sources(entry: dict[str, Any]) -> list[str] | None:
    sources = entry.get("sources")
    return [str(p) for p in sources] if isinstance(sources, list) and sources else None
