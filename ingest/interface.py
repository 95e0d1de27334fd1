"""The one interface every source implements, and its error.

A source is pure: it reads one decoded record (and the delivery's context) and
returns what it extracted, or raises :class:`InvalidRecord` with a reason the
quarantine keeps. Framing (files, lines, HTTP bodies), redaction, storage and
deduplication are the pipeline's job.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ingest.model import Collector, Extracted
from ledger import VestigeError

__all__ = ["Context", "InvalidRecord", "Source", "Trust"]


class InvalidRecord(VestigeError):
    """The record cannot be parsed or validated; the message is the quarantine reason."""


@dataclass(frozen=True)
class Trust:
    """Who may sign task records: Ed25519 verifier keys and Sigstore identities.

    ``ed25519`` maps the 8-hex-digit key ID to verifier keys in note form
    (``name+keyid+base64``); ``sigstore`` holds (identity, OIDC issuer) pairs.
    """

    ed25519: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    sigstore: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Context:
    """Where a record came from.

    ``origin`` is the file path or ``http:<route>``; ``headers`` are a webhook
    delivery's HTTP headers with lower-case names (empty for files). ``collector``
    and ``received_at`` make the entry's receipt: ``received_at`` is when the
    delivery arrived, or None to take the moment each record is read.
    ``allowed_sources`` are the CloudEvent ``source`` globs the sending collector
    token is bound to (None: any).
    """

    origin: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    trust: Trust = Trust()
    collector: Collector | None = None
    received_at: str | None = None
    allowed_sources: tuple[str, ...] | None = None


class Source(ABC):
    """One source format (``cloudtrail``, ``github``, ...)."""

    name: ClassVar[str]

    @abstractmethod
    def matches(self, record: Mapping[str, Any], context: Context) -> bool:
        """Does this record look like this source's format? Used by ``ingest auto``."""

    @abstractmethod
    def extract(self, record: Mapping[str, Any], context: Context) -> Extracted:
        """The normalized fields of ``record``; raise :class:`InvalidRecord` if it is not one."""
