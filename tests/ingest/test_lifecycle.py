"""The agent-events contract models and their published JSON Schemas."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from ingest.lifecycle import (
    EVENT_TYPES,
    CloudEvent,
    CredentialIssued,
    LifecycleEvent,
    TaskRecord,
    TaskRecordedEvent,
    json_schemas,
)

FIXTURES = Path(__file__).resolve().parents[1] / "assets" / "ingest" / "agent"
EVENTS = TypeAdapter[LifecycleEvent](LifecycleEvent)

# contracts/agent-events.md, "The task record": every member, and which are optional.
TASK_MEMBERS = {
    "task_id", "workspace_id", "ticket", "repo", "branch", "base_commit", "agent",
    "requested_by", "intent", "scopes", "credential_ids", "issued_at", "expires_at",
    "signature", "sigstore_bundle",
}  # fmt: skip
TASK_OPTIONAL = {"ticket", "branch", "signature", "sigstore_bundle"}
# contracts/agent-events.md, "`data` by type": required and optional members.
DATA_MEMBERS = {
    "dev.vestige.workspace.created": (
        {"workspace_id", "created_by", "agent"},
        {"runtime", "namespace"},
    ),
    "dev.vestige.workspace.destroyed": ({"workspace_id", "destroyed_by"}, {"reason"}),
    "dev.vestige.credential.issued": (
        {"workspace_id", "credential_id", "credential_type", "issued_by", "issued_to"},
        {"expires_at", "lease_id"},
    ),
    "dev.vestige.credential.revoked": (
        {"workspace_id", "credential_id", "revoked_by"},
        {"reason"},
    ),
    "dev.vestige.approval.granted": (
        {"workspace_id", "approval_id", "approver", "covers"},
        {"expires_at", "signature", "sigstore_bundle"},  # signed as task records are
    ),
    "dev.vestige.policy.decision": (
        {"workspace_id", "decision", "policy", "request"},
        {"reason"},
    ),
}


def fixtures() -> list[dict[str, Any]]:
    lines = (FIXTURES / "lifecycle.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def task() -> dict[str, Any]:
    (event,) = [e for e in fixtures() if e["type"] == "dev.vestige.task.recorded"]
    data: dict[str, Any] = event["data"]
    return data


def test_every_fixture_validates_as_its_type() -> None:
    seen = set()
    for record in fixtures():
        event = EVENTS.validate_python(record)
        assert type(event) is EVENT_TYPES[record["type"]]
        seen.add(record["type"])
    assert seen == set(EVENT_TYPES)


def test_timestamps_are_normalized_to_utc() -> None:
    (issued,) = [e for e in fixtures() if e["id"].endswith("0003")]
    event = EVENTS.validate_python(issued)
    assert event.time == "2026-11-20T08:00:06.250000Z"  # +01:00 in the record
    assert isinstance(event.data, CredentialIssued)
    assert event.data.expires_at == "2026-11-20T13:00:06.000000Z"


@pytest.mark.parametrize(
    "stamp", ["2026-11-20T09:00:05", "2026-11-20", "yesterday", "2026-13-20T09:00:05Z"]
)
def test_timestamps_need_an_rfc3339_date_time_with_offset(stamp: str) -> None:
    with pytest.raises(ValidationError, match="issued_at"):
        TaskRecord.model_validate({**task(), "issued_at": stamp})


def test_ticket_and_branch_may_be_null_or_absent() -> None:
    record = task()
    del record["branch"]
    record["ticket"] = None
    parsed = TaskRecord.model_validate(record)
    assert parsed.ticket is None and parsed.branch is None


@pytest.mark.parametrize("member", sorted(TASK_MEMBERS - TASK_OPTIONAL))
def test_task_record_required_members(member: str) -> None:
    record = task()
    del record[member]
    with pytest.raises(ValidationError, match=member):
        TaskRecord.model_validate(record)


def test_validation_is_strict() -> None:
    with pytest.raises(ValidationError, match="repo"):
        TaskRecord.model_validate({**task(), "repo": 1234})
    with pytest.raises(ValidationError, match="credential_ids"):
        TaskRecord.model_validate({**task(), "credential_ids": "ASIA"})
    with pytest.raises(ValidationError, match="kind"):
        TaskRecord.model_validate({**task(), "agent": {"kind": "robot", "id": "r"}})


def test_unknown_members_are_ignored_not_refused() -> None:
    parsed = TaskRecord.model_validate({**task(), "x-priority": "high"})
    assert "x-priority" not in parsed.model_dump()


def test_signature_shape() -> None:
    ok = {"alg": "ed25519", "key_id": "a1B2c3d4", "value": "AAAA"}
    assert TaskRecord.model_validate({**task(), "signature": ok}).signature is not None
    for bad in ({**ok, "alg": "rsa"}, {**ok, "key_id": "a1b2c3"}, {**ok, "value": ""}):
        with pytest.raises(ValidationError, match="signature"):
            TaskRecord.model_validate({**task(), "signature": bad})


def test_credential_types_are_the_contracts() -> None:
    annotation = CredentialIssued.model_fields["credential_type"].annotation
    assert set(typing.get_args(annotation)) == {
        "aws-sts",
        "aws-iam-user-key",
        "github-installation-token",
        "github-pat",
        "vault-token",
        "k8s-sa-token",
        "other",
    }


def test_envelope() -> None:
    record = fixtures()[0]
    assert CloudEvent.model_validate(record).type == "dev.vestige.workspace.created"
    for broken in (
        {**record, "specversion": "0.3"},
        {**record, "source": "urn:a b"},
        {**record, "id": ""},
        {**record, "id": "x" * 501},
        {k: v for k, v in record.items() if k != "time"},
    ):
        with pytest.raises(ValidationError):
            CloudEvent.model_validate(broken)


def test_models_are_frozen() -> None:
    parsed = TaskRecord.model_validate(task())
    with pytest.raises(ValidationError):
        parsed.repo = "other/repo"  # type: ignore[misc]


def test_published_schemas() -> None:
    schemas = json_schemas()
    assert set(schemas) == {"task-record.v1.json", "lifecycle-event.v1.json"}
    for name, schema in schemas.items():
        assert schema["$id"] == f"https://vestige.dev/schemas/{name}"
        assert schema["title"]
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        json.dumps(schema)  # plain JSON

    record = schemas["task-record.v1.json"]
    assert set(record["properties"]) == TASK_MEMBERS
    assert set(record["required"]) == TASK_MEMBERS - TASK_OPTIONAL
    assert record["properties"]["issued_at"]["format"] == "date-time"

    event = schemas["lifecycle-event.v1.json"]
    mapping = event["discriminator"]["mapping"]
    assert event["discriminator"]["propertyName"] == "type"
    assert set(mapping) == set(EVENT_TYPES)
    defs = event["$defs"]
    for kind, (required, optional) in DATA_MEMBERS.items():
        envelope = defs[mapping[kind].removeprefix("#/$defs/")]
        assert set(envelope["required"]) == {"specversion", "id", "source", "type", "time", "data"}
        assert envelope["properties"]["type"]["const"] == kind
        data = defs[envelope["properties"]["data"]["$ref"].removeprefix("#/$defs/")]
        assert set(data["required"]) == required
        assert set(data["properties"]) == required | optional
    task_event = defs[mapping["dev.vestige.task.recorded"].removeprefix("#/$defs/")]
    assert task_event["properties"]["data"] == {"$ref": "#/$defs/TaskRecord"}


def test_schemas_are_stable() -> None:
    assert json.dumps(json_schemas(), sort_keys=True) == json.dumps(json_schemas(), sort_keys=True)


def test_typed_envelope_rejects_another_types_data() -> None:
    created = fixtures()[0]
    with pytest.raises(ValidationError):
        TaskRecordedEvent.model_validate({**created, "type": "dev.vestige.task.recorded"})
