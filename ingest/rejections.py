"""How much the quarantine may take from requests nobody authenticated.

Anyone who can reach the collector can send unsigned or oversized bodies; each is
evidence, but storing every one lets a stranger fill the disk. Per fixed time window
at most ``records`` of them and ``bytes`` of their stored excerpts are kept; beyond
that a rejection is only counted (in memory, reported by ``/healthz``). Rejections of
authenticated requests are not limited here: they are always quarantined.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_UNAUTH_BYTES",
    "DEFAULT_UNAUTH_RECORDS",
    "DEFAULT_WINDOW_SECONDS",
    "RejectionBudget",
]

DEFAULT_UNAUTH_RECORDS = 60  # per window
DEFAULT_UNAUTH_BYTES = 1024 * 1024  # per window: 16 full 64 KiB excerpts
DEFAULT_WINDOW_SECONDS = 60.0


@dataclass
class _RouteCounts:
    stored: int = 0
    counted: int = 0  # rejected and counted only: the window's budget was spent


class RejectionBudget:
    """Admits unauthenticated rejections to the quarantine until a window's budget is spent."""

    def __init__(
        self,
        records: int = DEFAULT_UNAUTH_RECORDS,
        bytes_: int = DEFAULT_UNAUTH_BYTES,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if records < 0 or bytes_ < 0 or window_seconds <= 0:
            raise ValueError("the rejection budget needs records, bytes >= 0 and a window > 0")
        self.records = records
        self.bytes = bytes_
        self.window_seconds = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._window_start = clock()
        self._window_records = 0
        self._window_bytes = 0
        self._limited = False
        self._routes: dict[str, _RouteCounts] = {}

    def _roll(self) -> None:
        current = self._clock()
        if current - self._window_start >= self.window_seconds:
            self._window_start = current
            self._window_records = self._window_bytes = 0
            self._limited = False

    def admit(self, route: str, size: int) -> bool:
        """True when a rejection of ``size`` stored bytes may be quarantined now."""
        with self._lock:
            self._roll()
            counts = self._routes.setdefault(route, _RouteCounts())
            fits = self._window_records < self.records and self._window_bytes + size <= self.bytes
            if not fits:
                self._limited = True
                counts.counted += 1
                return False
            self._window_records += 1
            self._window_bytes += size
            counts.stored += 1
            return True

    @property
    def limited(self) -> bool:
        """Whether rejections of the current window are being counted instead of stored."""
        with self._lock:
            self._roll()
            return self._limited

    def to_json(self) -> dict[str, Any]:
        limited = self.limited
        with self._lock:
            by_route = {
                route: {"stored": c.stored, "counted_only": c.counted}
                for route, c in sorted(self._routes.items())
            }
        return {
            "limit": {
                "records": self.records,
                "bytes": self.bytes,
                "window_seconds": self.window_seconds,
            },
            "limited": limited,
            "by_route": by_route,
        }
