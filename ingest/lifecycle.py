"""The agent runtime wire format (``contracts/agent-events.md``) as frozen models.

A workspace's life, as a runtime reports it in CloudEvents 1.0 (structured JSON):
``workspace.created`` -> ``task.recorded`` -> ``credential.issued`` /
``approval.granted`` / ``policy.decision`` ... -> ``credential.revoked`` ->
``workspace.destroyed``. The contract is public, so these models are its
single definition: the parser validates against them and
``schemas/task-record.v1.json`` and ``schemas/lifecycle-event.v1.json`` are
generated from them (:func:`json_schemas`).

Validation is strict (no coercion: ``1`` is not the string ``"1"``) and
members the contract does not name are ignored, not refused (``extra="ignore"``):
a producer on a newer minor version must not be quarantined for an optional
member we do not know yet. They are not lost: the pipeline keeps the raw
record, and signatures are checked over the raw record, never over these models.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    WithJsonSchema,
)

from ingest.fields import utc
from ingest.interface import InvalidRecord

__all__ = [
    "EVENT_PREFIX",
    "EVENT_TYPES",
    "AgentActor",
    "ApprovalGranted",
    "CloudEvent",
    "CredentialIssued",
    "CredentialRevoked",
    "Ed25519Signature",
    "LifecycleEvent",
    "PolicyDecision",
    "Scope",
    "SystemAction",
    "TaskRecord",
    "WorkspaceCreated",
    "WorkspaceDestroyed",
    "json_schemas",
]

EVENT_PREFIX: Final = "dev.vestige."
_SCHEMA_BASE: Final = "https://vestige.dev/schemas/"

# RFC 3339 5.6 date-time: a full date, a full time and a zone offset (Z or +hh:mm).
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _timestamp(value: str) -> str:
    # A naive time would be read as UTC by utc(); the contract says RFC 3339, which
    # requires the offset, so refuse it rather than guess.
    if not _RFC3339.fullmatch(value):
        raise ValueError("not an RFC 3339 date-time with a zone offset")
    try:
        return utc(value)
    except InvalidRecord as exc:  # utc() speaks the parser's error; pydantic wants ValueError
        raise ValueError(str(exc)) from None


# Stored normalized (utc(): fixed width, Z suffix) so timestamps compare as text.
Timestamp = Annotated[
    str,
    AfterValidator(_timestamp),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
Text = Annotated[str, StringConstraints(min_length=1)]
# `source` and `id` make the dedupe key (Extracted.source_event_id holds at most 1024
# characters); a source is a URI-reference (CloudEvents 1.0, "source"), so it has no spaces.
_EventId = Annotated[str, StringConstraints(min_length=1, max_length=500)]
_EventSource = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=r"^\S+$")]


class _Contract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)


class AgentActor(_Contract):
    """Who acted: ``id`` is a SPIFFE ID, OIDC subject, e-mail or ARN."""

    kind: Literal["human", "agent", "service"]
    id: Text


class Scope(_Contract):
    """What a task may do in one system; ``actions`` and ``resources`` are shell globs."""

    system: Text
    actions: list[Text]
    resources: list[Text]


class SystemAction(_Contract):
    """One action on one resource: glob patterns in ``covers``, concrete in ``request``."""

    system: Text
    action: Text
    resource: Text


class Ed25519Signature(_Contract):
    """A detached Ed25519 signature; ``key_id`` names a verifier key in note form."""

    alg: Literal["ed25519"]
    key_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{8}$")]
    # Checked as base64 by the signature check: a bad value is a bad signature, not a bad record.
    value: Text


class TaskRecord(_Contract):
    """What an agent was asked to do, with what, by whom; signed by the requester's side.

    ``ticket`` and ``branch`` may be null or absent: that is what the gap rules
    catch. Signed with ``signature`` (Ed25519 over the RFC 8785 bytes of the
    record without ``signature``) or ``sigstore_bundle`` (over the record
    without either), or not at all.
    """

    task_id: Text
    workspace_id: Text
    ticket: str | None = None
    repo: Text
    branch: str | None = None
    base_commit: Text
    agent: AgentActor
    requested_by: AgentActor
    intent: str
    scopes: list[Scope]
    credential_ids: list[Text]
    issued_at: Timestamp
    expires_at: Timestamp
    signature: Ed25519Signature | None = None
    sigstore_bundle: dict[str, Any] | None = None


class WorkspaceCreated(_Contract):
    workspace_id: Text
    created_by: AgentActor
    agent: AgentActor
    runtime: str | None = None
    namespace: str | None = None


class WorkspaceDestroyed(_Contract):
    workspace_id: Text
    destroyed_by: AgentActor
    reason: str | None = None


CredentialType = Literal[
    "aws-sts",
    "aws-iam-user-key",
    "github-installation-token",
    "github-pat",
    "vault-token",
    "k8s-sa-token",
    "other",
]


class CredentialIssued(_Contract):
    """A credential handed to a workspace; no ``expires_at`` means it does not expire."""

    workspace_id: Text
    credential_id: Text
    credential_type: CredentialType
    issued_by: AgentActor
    issued_to: AgentActor
    expires_at: Timestamp | None = None
    lease_id: str | None = None


class CredentialRevoked(_Contract):
    workspace_id: Text
    credential_id: Text
    revoked_by: AgentActor
    reason: str | None = None


class ApprovalGranted(_Contract):
    """An approver's consent to actions; signed like the task record (our extension of
    the contract: ``signature`` or ``sigstore_bundle``, optional). The gap rules count
    only approvals signed by a trusted approver."""

    workspace_id: Text
    approval_id: Text
    approver: AgentActor
    covers: list[SystemAction]
    expires_at: Timestamp | None = None
    signature: Ed25519Signature | None = None
    sigstore_bundle: dict[str, Any] | None = None


class PolicyDecision(_Contract):
    workspace_id: Text
    decision: Literal["allow", "deny"]
    policy: Text
    request: SystemAction
    reason: str | None = None


class CloudEvent(_Contract):
    """The CloudEvents 1.0 envelope as the contract requires it (``time`` is mandatory)."""

    specversion: Literal["1.0"]
    id: _EventId
    source: _EventSource
    type: str
    time: Timestamp
    subject: str | None = None
    datacontenttype: str | None = None
    data: dict[str, Any]


# One envelope class per type, so the union below is discriminated on `type`.
class _Envelope(_Contract):
    specversion: Literal["1.0"]
    id: _EventId
    source: _EventSource
    time: Timestamp
    subject: str | None = None
    datacontenttype: str | None = None


class WorkspaceCreatedEvent(_Envelope):
    type: Literal["dev.vestige.workspace.created"]
    data: WorkspaceCreated


class WorkspaceDestroyedEvent(_Envelope):
    type: Literal["dev.vestige.workspace.destroyed"]
    data: WorkspaceDestroyed


class CredentialIssuedEvent(_Envelope):
    type: Literal["dev.vestige.credential.issued"]
    data: CredentialIssued


class CredentialRevokedEvent(_Envelope):
    type: Literal["dev.vestige.credential.revoked"]
    data: CredentialRevoked


class ApprovalGrantedEvent(_Envelope):
    type: Literal["dev.vestige.approval.granted"]
    data: ApprovalGranted


class PolicyDecisionEvent(_Envelope):
    type: Literal["dev.vestige.policy.decision"]
    data: PolicyDecision


class TaskRecordedEvent(_Envelope):
    type: Literal["dev.vestige.task.recorded"]
    data: TaskRecord


LifecycleEvent = Annotated[
    WorkspaceCreatedEvent
    | WorkspaceDestroyedEvent
    | CredentialIssuedEvent
    | CredentialRevokedEvent
    | ApprovalGrantedEvent
    | PolicyDecisionEvent
    | TaskRecordedEvent,
    Field(discriminator="type"),
]

EVENT_TYPES: Final[dict[str, type[_Envelope]]] = {
    "dev.vestige.workspace.created": WorkspaceCreatedEvent,
    "dev.vestige.workspace.destroyed": WorkspaceDestroyedEvent,
    "dev.vestige.credential.issued": CredentialIssuedEvent,
    "dev.vestige.credential.revoked": CredentialRevokedEvent,
    "dev.vestige.approval.granted": ApprovalGrantedEvent,
    "dev.vestige.policy.decision": PolicyDecisionEvent,
    "dev.vestige.task.recorded": TaskRecordedEvent,
}


def _published(name: str, title: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": _SCHEMA_BASE + name,
        **schema,
        "title": title,
    }


def json_schemas() -> dict[str, dict[str, Any]]:
    """The published JSON Schemas of the contract, by file name under ``schemas/``."""
    return {
        "task-record.v1.json": _published(
            "task-record.v1.json", "vestige task record v1", TaskRecord.model_json_schema()
        ),
        "lifecycle-event.v1.json": _published(
            "lifecycle-event.v1.json",
            "vestige agent lifecycle event v1 (CloudEvents 1.0, structured JSON)",
            TypeAdapter(LifecycleEvent).json_schema(),
        ),
    }
