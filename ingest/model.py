"""The normalized event: what every source becomes before it is appended.

Two layers: :class:`Extracted` is what a source parser reads out of one record
(pure, no I/O); :class:`Event` adds what the pipeline knows (when it was
observed, the raw record after redaction, its digest). ``schemas/event.v1.json``
is generated from :class:`Event`; see ``vestige.schemas``.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "EVENT_SCHEMA",
    "Actor",
    "ActorKind",
    "Collector",
    "CorrelationKeys",
    "Event",
    "Extracted",
    "Ocsf",
    "Outcome",
    "Receipt",
    "SignatureCheck",
    "SignatureStatus",
    "KEY_KINDS",
    "MAX_EVENT_ID",
    "is_event_document",
]

EVENT_SCHEMA: Final = "vestige.event.v1"
MAX_EVENT_ID: Final = 1024  # longest source_event_id; sources refuse longer ids by name

# Correlation key kinds (DESIGN.md "Normalized event"); `vestige events --key KIND=VALUE`.
KEY_KINDS = (
    "workspace_id",
    "task_id",
    "ticket",
    "repo",
    "branch",
    "commit",
    "credential_id",
    "session_id",
    "run_id",
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ActorKind(StrEnum):
    HUMAN = "human"
    AGENT = "agent"
    SERVICE = "service"
    UNKNOWN = "unknown"


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    UNKNOWN = "unknown"


class Actor(_Frozen):
    """Who acted. ``id`` is the most specific stable identifier the source gives."""

    kind: ActorKind = ActorKind.UNKNOWN
    id: str | None = None
    display: str | None = None
    credential_id: str | None = None
    spiffe_id: str | None = None
    oidc_sub: str | None = None


class CorrelationKeys(_Frozen):
    """Values the reconstruction engine links events by.

    Each kind holds a list: one GitHub push names several commits and tickets.
    Values are sorted and unique so equal events serialize equally.
    """

    workspace_id: list[str] = Field(default_factory=list)
    task_id: list[str] = Field(default_factory=list)
    ticket: list[str] = Field(default_factory=list)
    repo: list[str] = Field(default_factory=list)
    branch: list[str] = Field(default_factory=list)
    commit: list[str] = Field(default_factory=list)
    credential_id: list[str] = Field(default_factory=list)
    session_id: list[str] = Field(default_factory=list)
    run_id: list[str] = Field(default_factory=list)

    @field_validator("*", mode="after")
    @classmethod
    def _sorted_unique(cls, value: list[str]) -> list[str]:
        return sorted({v for v in value if v})

    def pairs(self) -> list[tuple[str, str]]:
        """(kind, value) for every key, in a fixed order."""
        return [(kind, value) for kind in KEY_KINDS for value in getattr(self, kind)]


class Ocsf(_Frozen):
    """OCSF 1.x class and activity, so an export can be OCSF.

    Classes used: 3001 Account Change, 3002 Authentication, 3003 Authorize Session,
    3005 User Access Management, 6001 Web Resources Activity, 6002 Application
    Lifecycle, 6003 API Activity, 6005 Datastore Activity. activity_id 99 = Other,
    0 = Unknown (OCSF convention).
    """

    class_uid: int
    activity_id: int


class SignatureStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"
    UNSIGNED = "unsigned"


class SignatureCheck(_Frozen):
    """The result of checking an upstream signature; a failure is evidence, not an error."""

    status: SignatureStatus
    method: Literal["ed25519", "sigstore", "hmac-sha256"] | None = None
    identity: str | None = None
    key_id: str | None = None
    reason: str | None = None


class Extracted(_Frozen):
    """What a source parser extracts from one record."""

    source: str
    source_event_id: str = Field(min_length=1, max_length=MAX_EVENT_ID)
    occurred_at: str  # RFC 3339 UTC with a Z suffix; see ingest.fields.utc
    actor: Actor = Actor()
    action: str
    target: str | None = None
    outcome: Outcome = Outcome.UNKNOWN
    keys: CorrelationKeys = CorrelationKeys()
    risk: list[str] = Field(default_factory=list)
    ocsf: Ocsf
    signature: SignatureCheck | None = None
    # Source-specific facts a gap rule needs and the keys do not carry
    # (forced push, lease TTL, access key type, lifecycle data, ...).
    attributes: dict[str, Any] = Field(default_factory=dict)


class Collector(_Frozen):
    """Through what the ledger received a record.

    ``kind`` ``cli`` is ``vestige ingest`` (``path`` the file, ``user`` the OS user);
    ``http`` is ``vestige serve`` (``name`` the collector token's name, or the webhook
    route that authenticated the delivery); ``retry`` is ``vestige quarantine retry``.
    """

    kind: Literal["cli", "http", "retry"]
    name: str | None = None
    path: str | None = None
    user: str | None = None


class Receipt(_Frozen):
    """When and how the ledger received a record: set by ingest, never by the sender.

    The gap rules judge approvals and revocations by it, not by the time the sender
    claims (README, "Late events"). Entries written before receipts were recorded
    have none; the rules then know only their ledger order.
    """

    received_at: str = Field(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
    collector: Collector


class Event(Extracted):
    """One normalized event as stored in the ledger (``schemas/event.v1.json``)."""

    schema_: Literal["vestige.event.v1"] = Field(EVENT_SCHEMA, alias="schema")
    observed_at: str
    receipt: Receipt | None = None  # absent only on entries older than receipts
    # SHA-256 (hex) of the RFC 8785 bytes of the record as received, before redaction:
    # whoever holds the original can show this event came from it.
    raw_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    raw: dict[str, Any]

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def is_event_document(doc: object) -> bool:
    """Whether a ledger entry has the shape of a normalized event, as ingest writes it.

    Anyone can append any JSON to a ledger (``vestige append``); what downstream reads
    as an event must at least have these types, or it is not treated as one. (Plain
    loops: this runs for every entry the catalogue indexes.)
    """
    if type(doc) is not dict or doc.get("schema") != EVENT_SCHEMA:
        return False
    for name in ("source", "source_event_id", "action"):
        if type(doc.get(name)) is not str:
            return False
    when, keys, actor = doc.get("occurred_at"), doc.get("keys"), doc.get("actor", {})
    if type(when) is not str or not _TIME.fullmatch(when):
        return False
    if type(keys) is not dict or type(actor) is not dict:
        return False
    for values in keys.values():
        if type(values) is not list:
            return False
        for value in values:
            if type(value) is not str:
                return False
    for value in actor.values():
        if value is not None and type(value) is not str:
            return False
    target, signature, receipt = doc.get("target"), doc.get("signature"), doc.get("receipt")
    return (
        (target is None or type(target) is str)
        and (receipt is None or type(receipt) is dict)
        and type(doc.get("outcome", "")) is str
        and type(doc.get("attributes", {})) is dict
        and type(doc.get("risk", [])) is list
        and (signature is None or type(signature) is dict)
    )


def document(event: Extracted) -> dict[str, Any]:
    """``event.model_dump(mode="json")``, built directly: the ingest hot path.

    Pydantic's serializer costs tens of microseconds per event here; this is a
    few. ``tests/ingest/test_model.py`` checks the two agree on every fixture.
    """
    actor, keys, ocsf, signature = event.actor, event.keys, event.ocsf, event.signature
    return {
        "source": event.source,
        "source_event_id": event.source_event_id,
        "occurred_at": event.occurred_at,
        "actor": {
            "kind": actor.kind.value,
            "id": actor.id,
            "display": actor.display,
            "credential_id": actor.credential_id,
            "spiffe_id": actor.spiffe_id,
            "oidc_sub": actor.oidc_sub,
        },
        "action": event.action,
        "target": event.target,
        "outcome": event.outcome.value,
        "keys": {kind: list(getattr(keys, kind)) for kind in KEY_KINDS},
        "risk": list(event.risk),
        "ocsf": {"class_uid": ocsf.class_uid, "activity_id": ocsf.activity_id},
        "signature": None
        if signature is None
        else {
            "status": signature.status.value,
            "method": signature.method,
            "identity": signature.identity,
            "key_id": signature.key_id,
            "reason": signature.reason,
        },
        "attributes": event.attributes,
    }
