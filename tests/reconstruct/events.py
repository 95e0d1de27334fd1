"""Minimal normalized events (``schemas/event.v1.json`` shape) for rule tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from reconstruct.evidence import Evidence, LinkedEvent

WS = "ws-1"
AGENT = "spiffe://corp.example/agent/ws-1"
KEY = "ASIAEXAMPLEKEY000001"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event(
    seq: int,
    source: str,
    action: str,
    minutes: float,
    *,
    actor: dict[str, Any] | None = None,
    target: str | None = None,
    keys: dict[str, list[str]] | None = None,
    attributes: dict[str, Any] | None = None,
    risk: list[str] | None = None,
    signature: dict[str, Any] | None = None,
    outcome: str = "success",
    raw: dict[str, Any] | None = None,
    received: float | None = None,
) -> LinkedEvent:
    """``received``: the minute the ledger received it (its receipt); None: no receipt."""
    doc: dict[str, Any] = {
        "schema": "vestige.event.v1",
        "source": source,
        "source_event_id": f"{source}-{seq}",
        "occurred_at": at(minutes),
        "actor": {"kind": "unknown", "id": None, **(actor or {})},
        "action": action,
        "target": target,
        "outcome": outcome,
        "keys": keys or {},
        "risk": risk or [],
        "signature": signature,
        "attributes": attributes or {},
        "raw": raw or {},
    }
    if received is not None:
        collector = {"kind": "http", "name": "orchestrator", "path": None, "user": None}
        doc["receipt"] = {"received_at": at(received), "collector": collector}
    return LinkedEvent(seq, doc, ("test",))


def lifecycle(seq: int, kind: str, minutes: float, **data: Any) -> LinkedEvent:
    # The keys ingest's agent source gives each type (ingest/sources/agent.py).
    keys = {"workspace_id": [WS]}
    if "credential_id" in data:
        keys["credential_id"] = [data["credential_id"]]
    if kind == "task.recorded":
        keys |= {
            "task_id": [data["task_id"]],
            "ticket": [data["ticket"]] if data.get("ticket") else [],
            "repo": [data["repo"]],
            "branch": [data["branch"]] if data.get("branch") else [],
            "credential_id": list(data["credential_ids"]),
        }
    signature = data.pop("_signature", None)
    received = data.pop("_received", None)
    return event(
        seq,
        "agent",
        kind,
        minutes,
        target=WS,
        keys=keys,
        attributes={"workspace_id": WS, **data},
        signature=signature,
        received=received,
    )


def signature_check(status: str = "ok") -> dict[str, Any]:
    """An ingest signature check result (``schemas/event.v1.json`` ``signature``)."""
    return {
        "status": status,
        "method": None if status == "unsigned" else "ed25519",
        "identity": None,
        "key_id": None if status == "unsigned" else "a1b2c3d4",
        "reason": {"ok": None, "unsigned": None}.get(status, "does not verify"),
    }


HUMAN = {"kind": "human", "id": "dana@corp.example"}
ORCHESTRATOR = {"kind": "service", "id": "urn:example:orchestrator/prod"}
AGENT_ACTOR = {"kind": "agent", "id": AGENT}
SCOPES = [
    {
        "system": "aws",
        "actions": ["s3:GetObject", "s3:PutObject", "sts:GetCallerIdentity", "sts:AssumeRole"],
        "resources": ["arn:aws:s3:::ws-artifacts/*", "*"],
    },
    {"system": "github", "actions": ["push", "pull_request"], "resources": ["corp/payments"]},
]


def task_record(
    seq: int = 1, minutes: float = 0.5, status: str = "ok", **changes: Any
) -> LinkedEvent:
    data: dict[str, Any] = {
        "task_id": "task-1",
        "ticket": "SEC-1",
        "repo": "corp/payments",
        "branch": "agent/SEC-1-fix",
        "base_commit": "9c1e" * 10,
        "agent": AGENT_ACTOR,
        "requested_by": HUMAN,
        "intent": "fix rounding",
        "scopes": SCOPES,
        "credential_ids": [],
        "issued_at": at(0),
        "expires_at": at(240),
    }
    data.update(changes)
    signature = {**signature_check(status), "method": "ed25519", "key_id": "a1b2c3d4"}
    return lifecycle(seq, "task.recorded", minutes, _signature=signature, **data)


def clean(extra: list[LinkedEvent] | None = None) -> list[LinkedEvent]:
    """A workspace with every anchor, a credential issued and revoked, and one scoped call."""
    return [
        lifecycle(
            0,
            "workspace.created",
            0,
            created_by=HUMAN,
            agent=AGENT_ACTOR,
            runtime="k8s",
            namespace=WS,
        ),
        task_record(),
        lifecycle(
            2,
            "credential.issued",
            1,
            credential_id=KEY,
            credential_type="aws-sts",
            issued_by=ORCHESTRATOR,
            issued_to=AGENT_ACTOR,
            expires_at=at(60),
        ),
        event(
            3,
            "cloudtrail",
            "s3:GetObject",
            5,
            target="arn:aws:s3:::ws-artifacts/ws-1/a",
            actor={
                "kind": "agent",
                "id": "arn:aws:sts::1:assumed-role/agent/ws-1",
                "credential_id": KEY,
                "spiffe_id": AGENT,
            },
            keys={"credential_id": [KEY]},
        ),
        event(
            4,
            "github",
            "push",
            6,
            target="corp/payments",
            actor={"kind": "service", "id": "bot"},
            keys={"repo": ["corp/payments"], "branch": ["agent/SEC-1-fix"]},
            attributes={"forced": False, "deleted": False, "created": False},
        ),
        lifecycle(5, "credential.revoked", 9, credential_id=KEY, revoked_by=ORCHESTRATOR),
        lifecycle(6, "workspace.destroyed", 10, destroyed_by=ORCHESTRATOR),
        *(extra or []),
    ]


def evidence(events: list[LinkedEvent], context: list[LinkedEvent] | None = None) -> Evidence:
    return Evidence.of(WS, events, context or [])


def heartbeat(
    first_seq: int = 100,
    start: float = -70,
    stop: float = 80,
    every: float = 20,
    source: str = "cloudtrail",
) -> list[LinkedEvent]:
    """Background events of a source no workspace owns, every ``every`` minutes."""
    out, minutes, seq = [], start, first_seq
    while minutes <= stop:
        out.append(
            event(
                seq,
                source,
                "ec2:DescribeInstances",
                minutes,
                actor={"kind": "service", "id": "monitoring"},
            )
        )
        minutes += every
        seq += 1
    return out
