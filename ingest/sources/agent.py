"""Agent runtime lifecycle events: CloudEvents 1.0 per ``contracts/agent-events.md``.

Each event is validated against :mod:`ingest.lifecycle` (the contract's one
definition), then mapped:

* ``source_event_id`` = ``source + " " + id``: the contract's dedupe key; a
  source is a URI-reference without spaces, so the first space splits it back.
* ``action`` = the type without ``dev.vestige.`` (``workspace.created``,
  ``task.recorded``, ...); ``target`` = the workspace.
* ``actor`` = the type's acting party (``created_by``, ``destroyed_by``,
  ``issued_by``, ``revoked_by``, ``approver``, the task record's ``agent``); a
  policy decision has none in its data, so the deciding service is the event's
  ``source``.
* ``attributes`` = the validated ``data`` as JSON (scopes, covers, expiry...),
  less signature material: the raw record keeps it and ``signature`` holds the result.
* Task records and approvals are signed the same way (``check_task_record``); the
  result is the event's ``signature``, and a record not validly signed is tagged.

A collector token bound to ``source`` globs (``Context.allowed_sources``) may send
only events of those sources; any other is refused, so it is quarantined.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any, Final, assert_never

from pydantic import TypeAdapter, ValidationError

from ingest.fields import tickets
from ingest.interface import Context, InvalidRecord, Source
from ingest.lifecycle import (
    EVENT_PREFIX,
    EVENT_TYPES,
    AgentActor,
    ApprovalGranted,
    CloudEvent,
    CredentialIssued,
    CredentialRevoked,
    LifecycleEvent,
    PolicyDecision,
    TaskRecord,
    WorkspaceCreated,
    WorkspaceDestroyed,
)
from ingest.model import (
    Actor,
    ActorKind,
    CorrelationKeys,
    Extracted,
    Ocsf,
    Outcome,
    SignatureCheck,
    SignatureStatus,
)
from ingest.signatures import check_task_record

__all__ = ["AgentEvents"]

# OCSF 1.x classes: 6002 Application Lifecycle (1 Install, 2 Remove: a workspace is
# created and destroyed, not started and stopped), 3005 User Access Management
# (1 Assign Privileges, 2 Revoke Privileges: a credential or an approval grants a
# workspace privileges), 3003 Authorize Session (99 Other: an allow/deny decision is
# neither of its activities), 6003 API Activity (99 Other: a declaration of intent).
_OCSF: Final = {
    WorkspaceCreated: Ocsf(class_uid=6002, activity_id=1),
    WorkspaceDestroyed: Ocsf(class_uid=6002, activity_id=2),
    CredentialIssued: Ocsf(class_uid=3005, activity_id=1),
    CredentialRevoked: Ocsf(class_uid=3005, activity_id=2),
    ApprovalGranted: Ocsf(class_uid=3005, activity_id=1),
    PolicyDecision: Ocsf(class_uid=3003, activity_id=99),
    TaskRecord: Ocsf(class_uid=6003, activity_id=99),
}

_EVENT: Final = TypeAdapter[LifecycleEvent](LifecycleEvent)

_SIGNATURE_RISK: Final = {
    "task_record": {
        SignatureStatus.UNSIGNED: "task_record_unsigned",
        SignatureStatus.FAILED: "task_record_bad_signature",
    },
    "approval": {
        SignatureStatus.UNSIGNED: "approval_unsigned",
        SignatureStatus.FAILED: "approval_bad_signature",
    },
}


def _describe(exc: ValidationError, skip: int = 0) -> str:
    """The first validation error as ``field.path: message``.

    ``skip`` drops leading path steps that are not fields (a union's tag).
    """
    error = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(step) for step in error["loc"][skip:]) or "event"
    return f"{where}: {error['msg'].removeprefix('Value error, ')}"


def _actor(actor: AgentActor) -> Actor:
    # The contract's id is a SPIFFE ID, OIDC subject, e-mail or ARN; an agent's identity
    # is a SPIFFE ID or an OIDC subject (DESIGN.md, task record), so an agent id that is
    # not a SPIFFE ID is its OIDC subject. For humans and services the kind of id is not
    # stated (an e-mail, an ARN, a subject...), so only a SPIFFE ID is labelled.
    spiffe = actor.id if actor.id.startswith("spiffe://") else None
    oidc = actor.id if actor.kind == "agent" and spiffe is None else None
    return Actor(kind=ActorKind(actor.kind), id=actor.id, spiffe_id=spiffe, oidc_sub=oidc)


TASK_TYPE = EVENT_PREFIX + "task.recorded"
APPROVAL_TYPE = EVENT_PREFIX + "approval.granted"
_SIGNED_TYPES: Final = (TASK_TYPE, APPROVAL_TYPE)
# Credential types that are static whatever expiry is declared: not just-in-time.
_STATIC: Final = frozenset({"aws-iam-user-key", "github-pat"})
_SIGNATURE_MEMBERS = ("signature", "sigstore_bundle")


class AgentEvents(Source):
    """Lifecycle events and task records that agent runtimes report."""

    name = "agent"

    def matches(self, record: Mapping[str, Any], context: Context) -> bool:
        kind = record.get("type")
        return "specversion" in record and isinstance(kind, str) and kind.startswith(EVENT_PREFIX)

    def extract(self, record: Mapping[str, Any], context: Context) -> Extracted:
        try:
            envelope = CloudEvent.model_validate(record)
        except ValidationError as exc:
            raise InvalidRecord(_describe(exc)) from None
        if envelope.type not in EVENT_TYPES:
            shown = repr(envelope.type[:100])
            if envelope.type.startswith(EVENT_PREFIX):
                raise InvalidRecord(f"type: unknown vestige event type {shown}")
            raise InvalidRecord(f"type: {shown} is not a vestige lifecycle event type")
        allowed = context.allowed_sources
        if allowed is not None and not any(fnmatchcase(envelope.source, p) for p in allowed):
            name = context.collector.name if context.collector else None
            raise InvalidRecord(
                f"source: {envelope.source[:100]!r} is not a source collector {name!r} may send"
            )
        checked: Mapping[str, Any] = record
        data_in = record.get("data")
        if envelope.type in _SIGNED_TYPES and isinstance(data_in, dict):
            # The signature members are judged by _signature below: a malformed
            # signature makes a badly signed record (evidence), not an invalid one.
            unsigned = {k: v for k, v in data_in.items() if k not in _SIGNATURE_MEMBERS}
            checked = {**record, "data": unsigned}
        try:
            event = _EVENT.validate_python(checked)
        except ValidationError as exc:
            raise InvalidRecord(_describe(exc, skip=1)) from None  # loc starts with the type

        data = event.data
        keys: dict[str, list[str]] = {"workspace_id": [data.workspace_id]}
        outcome = Outcome.SUCCESS  # the event reports something that happened
        risk: list[str] = []
        signature: SignatureCheck | None = None
        match data:
            case WorkspaceCreated():
                actor = _actor(data.created_by)
            case WorkspaceDestroyed():
                actor = _actor(data.destroyed_by)
            case CredentialIssued():
                actor = _actor(data.issued_by)
                keys["credential_id"] = [data.credential_id, data.lease_id or ""]
                if data.expires_at is None or data.credential_type in _STATIC:
                    risk.append("long_lived_credential")
            case CredentialRevoked():
                actor = _actor(data.revoked_by)
                keys["credential_id"] = [data.credential_id]
            case ApprovalGranted():
                actor = _actor(data.approver)
                signature = _signature(record["data"], context, "approval", risk)
            case PolicyDecision():
                actor = Actor(kind=ActorKind.SERVICE, id=envelope.source)
                outcome = Outcome.SUCCESS if data.decision == "allow" else Outcome.FAILURE
            case TaskRecord():
                actor = _actor(data.agent)
                keys |= _task_keys(data)
                signature = _signature(record["data"], context, "task_record", risk)
            case _:  # pragma: no cover
                assert_never(data)

        return Extracted(
            source=self.name,
            source_event_id=f"{envelope.source} {envelope.id}",
            occurred_at=envelope.time,
            actor=actor,
            action=envelope.type.removeprefix(EVENT_PREFIX),
            target=data.workspace_id,
            outcome=outcome,
            keys=CorrelationKeys(**keys),
            risk=risk,
            ocsf=_OCSF[type(data)],
            signature=signature,
            attributes=data.model_dump(mode="json", exclude={"signature", "sigstore_bundle"}),
        )


def _signature(
    data: Mapping[str, Any], context: Context, what: str, risk: list[str]
) -> SignatureCheck:
    """Check the signed ``data`` as received (unknown members are signed too); tag the
    event in ``risk`` when it is not validly signed."""
    check = check_task_record(data, context.trust)
    if check.status in _SIGNATURE_RISK[what]:
        risk.append(_SIGNATURE_RISK[what][check.status])
    return check


def _task_keys(task: TaskRecord) -> dict[str, list[str]]:
    return {
        "task_id": [task.task_id],
        "ticket": [task.ticket or "", *tickets(task.branch)],
        "repo": [task.repo],
        "branch": [task.branch or ""],
        "commit": [task.base_commit],
        "credential_id": task.credential_ids,
    }
