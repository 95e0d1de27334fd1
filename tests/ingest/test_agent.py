"""Agent runtime CloudEvents: lifecycle events and task records."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest

import ledger
from ingest.interface import Context, InvalidRecord, Trust
from ingest.model import ActorKind, Extracted, Outcome, SignatureStatus
from ingest.sources.agent import AgentEvents

FIXTURES = Path(__file__).resolve().parents[1] / "assets" / "ingest" / "agent"
SOURCE = AgentEvents()
CONTEXT = Context(origin="http:/v1/events")


def events() -> dict[str, dict[str, Any]]:
    """The fixture events by the last part of their id (0f8e... is the first)."""
    lines = (FIXTURES / "lifecycle.jsonl").read_text().splitlines()
    return {json.loads(line)["id"][-4:]: json.loads(line) for line in lines}


def extract(record: dict[str, Any], context: Context = CONTEXT) -> Extracted:
    assert SOURCE.matches(record, context)
    return SOURCE.extract(record, context)


def signed_task(signer: ledger.Signer, **changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(events()["0002"])
    data = {**event["data"], **changes}
    value = base64.b64encode(signer.sign(ledger.canonicalize(data))).decode()
    key_id = signer.verifier.key_id.hex()
    event["data"] = {**data, "signature": {"alg": "ed25519", "key_id": key_id, "value": value}}
    return event


def trusting(signer: ledger.Signer) -> Context:
    verifier = signer.verifier
    return Context(trust=Trust(ed25519={verifier.key_id.hex(): (verifier.encode(),)}))


@pytest.fixture(scope="module")
def signer() -> ledger.Signer:
    return ledger.Signer.generate("orchestrator.corp.example")


def test_workspace_created() -> None:
    event = extract(events()["1f03"])
    assert event.source == "agent"
    assert (
        event.source_event_id
        == "urn:example:orchestrator/prod 0f8e5a1c-3b7d-4e29-9c61-7a2d4b8e1f03"
    )
    assert event.occurred_at == "2026-11-20T09:00:00.000000Z"
    assert event.action == "workspace.created"
    assert event.target == "ws-7f3a"
    assert event.outcome is Outcome.SUCCESS
    assert event.actor.kind is ActorKind.HUMAN
    assert event.actor.id == "dana@corp.example"
    assert event.actor.spiffe_id is None and event.actor.oidc_sub is None
    assert event.keys.pairs() == [("workspace_id", "ws-7f3a")]
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (6002, 1)
    assert event.signature is None and event.risk == []
    assert event.attributes == {
        "workspace_id": "ws-7f3a",
        "created_by": {"kind": "human", "id": "dana@corp.example"},
        "agent": {"kind": "agent", "id": "spiffe://corp.example/agent/ws-7f3a"},
        "runtime": "k8s",
        "namespace": "agents",
    }


def test_unsigned_task_record() -> None:
    event = extract(events()["0002"])
    assert event.action == "task.recorded"
    assert event.occurred_at == "2026-11-20T09:00:05.000000Z"
    # An agent id that is not a SPIFFE ID is its OIDC subject (here a GitHub Actions one).
    assert event.actor.kind is ActorKind.AGENT
    assert event.actor.oidc_sub == "repo:corp/payments:ref:refs/heads/main"
    assert event.actor.spiffe_id is None
    assert event.keys.model_dump() == {
        "workspace_id": ["ws-7f3a"],
        "task_id": ["task-91"],
        "ticket": ["SEC-1234"],  # ticket is null; the branch names it
        "repo": ["corp/payments"],
        "branch": ["agent/SEC-1234-fix-rounding"],
        "commit": ["9c1e4f0a7b2d6c3e8f1a5b9d0c7e2f4a6b8d1c3e"],
        "credential_id": [
            "ASIAY34FZKBOKMUTVV7A",
            "aws/creds/ws-deployer/Hx1bQ0mUe4r1ZqcV8kTn3Wp9",
        ],
        "session_id": [],
        "run_id": [],
    }
    assert event.signature is not None
    assert event.signature.status is SignatureStatus.UNSIGNED
    assert event.risk == ["task_record_unsigned"]
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (6003, 99)
    assert event.attributes["scopes"][0] == {
        "system": "aws",
        "actions": ["s3:GetObject", "s3:PutObject"],
        "resources": ["arn:aws:s3:::ws-artifacts/*"],
    }
    assert event.attributes["ticket"] is None
    assert event.attributes["expires_at"] == "2026-11-20T13:00:05.000000Z"


def test_task_record_without_ticket_or_branch_has_no_such_keys() -> None:
    record = events()["0002"]
    del record["data"]["branch"]
    event = extract(record)
    assert event.keys.ticket == [] and event.keys.branch == []


def test_signed_task_record_by_trusted_key(signer: ledger.Signer) -> None:
    record = signed_task(signer, ticket="SEC-1234", agent={"kind": "agent", "id": "spiffe://c/a"})
    event = extract(record, trusting(signer))
    assert event.signature is not None
    assert event.signature.status is SignatureStatus.OK
    assert event.signature.key_id == signer.verifier.key_id.hex()
    assert event.signature.identity == "orchestrator.corp.example"
    assert event.risk == []
    assert event.actor.spiffe_id == "spiffe://c/a" and event.actor.oidc_sub is None
    assert event.keys.ticket == ["SEC-1234"]
    # Signature material stays in the raw record; the result is in `signature`.
    assert "signature" not in event.attributes


def test_signed_task_record_by_untrusted_key(signer: ledger.Signer) -> None:
    event = extract(signed_task(signer))
    assert event.signature is not None
    assert event.signature.status is SignatureStatus.FAILED
    assert event.signature.reason == f"key {signer.verifier.key_id.hex()} is not trusted"
    assert event.risk == ["task_record_bad_signature"]


def test_tampered_task_record(signer: ledger.Signer) -> None:
    record = signed_task(signer)
    record["data"]["scopes"][0]["actions"] = ["*"]
    event = extract(record, trusting(signer))
    assert event.signature is not None and event.signature.status is SignatureStatus.FAILED
    assert event.risk == ["task_record_bad_signature"]


def test_unknown_task_members_are_part_of_the_signed_bytes(signer: ledger.Signer) -> None:
    record = signed_task(signer, **{"x-runtime": "gvisor"})
    event = extract(record, trusting(signer))
    assert event.signature is not None and event.signature.status is SignatureStatus.OK
    assert "x-runtime" not in event.attributes
    record["data"]["x-runtime"] = "runc"
    event = extract(record, trusting(signer))
    assert event.signature is not None and event.signature.status is SignatureStatus.FAILED


def test_credential_issued_with_expiry() -> None:
    event = extract(events()["0003"])
    assert event.action == "credential.issued"
    assert event.occurred_at == "2026-11-20T08:00:06.250000Z"
    assert event.actor.kind is ActorKind.SERVICE
    assert event.actor.spiffe_id == "spiffe://corp.example/orchestrator"
    assert event.keys.credential_id == ["ASIAY34FZKBOKMUTVV7A"]
    assert event.risk == []
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (3005, 1)
    assert event.attributes["credential_type"] == "aws-sts"
    assert event.attributes["issued_to"]["id"] == "spiffe://corp.example/agent/ws-7f3a"


def test_credential_issued_without_expiry_is_long_lived() -> None:
    event = extract(events()["0004"])
    assert event.risk == ["long_lived_credential"]
    assert event.attributes["expires_at"] is None
    assert event.actor.kind is ActorKind.HUMAN


def test_credential_lease_id_is_a_credential_key() -> None:
    record = events()["0003"]
    record["data"]["lease_id"] = "aws/creds/ws-deployer/Hx1b"
    assert extract(record).keys.credential_id == [
        "ASIAY34FZKBOKMUTVV7A",
        "aws/creds/ws-deployer/Hx1b",
    ]


def test_approval_granted() -> None:
    event = extract(events()["0005"])
    assert event.action == "approval.granted"
    assert event.actor.id == "lee@corp.example"
    assert event.attributes["covers"] == [
        {"system": "github", "action": "push", "resource": "corp/payments"}
    ]
    assert event.attributes["approval_id"] == "apr-552"
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (3005, 1)


def test_policy_decision() -> None:
    event = extract(events()["0006"])
    assert event.action == "policy.decision"
    assert event.outcome is Outcome.FAILURE  # denied
    assert event.actor.kind is ActorKind.SERVICE
    assert event.actor.id == "urn:example:policy-engine/prod"
    assert event.target == "ws-7f3a"
    assert event.attributes["request"]["resource"] == "secret/data/payments/prod-db"
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (3003, 99)
    record = events()["0006"]
    record["data"]["decision"] = "allow"
    assert extract(record).outcome is Outcome.SUCCESS


def test_credential_revoked_and_workspace_destroyed() -> None:
    revoked = extract(events()["0007"])
    assert revoked.action == "credential.revoked"
    assert revoked.keys.credential_id == ["ASIAY34FZKBOKMUTVV7A"]
    assert (revoked.ocsf.class_uid, revoked.ocsf.activity_id) == (3005, 2)
    destroyed = extract(events()["0008"])
    assert destroyed.action == "workspace.destroyed"
    assert destroyed.actor.id == "spiffe://corp.example/orchestrator"
    assert destroyed.attributes["reason"] == "task complete"
    assert (destroyed.ocsf.class_uid, destroyed.ocsf.activity_id) == (6002, 2)


def test_source_and_id_make_the_dedupe_key() -> None:
    one = events()["0007"]
    other = {**one, "source": "urn:example:orchestrator/staging"}
    assert extract(one).source_event_id != extract(other).source_event_id
    spaced = {**one, "id": "a b"}
    assert extract(spaced).source_event_id.split(" ", 1) == [one["source"], "a b"]


def test_matches() -> None:
    assert not SOURCE.matches({"type": "dev.vestige.workspace.created"}, CONTEXT)
    assert not SOURCE.matches({"specversion": "1.0", "type": "com.github.push"}, CONTEXT)
    assert not SOURCE.matches({"specversion": "1.0", "type": ["dev.vestige.x"]}, CONTEXT)
    assert not SOURCE.matches({"eventVersion": "1.08", "eventSource": "s3"}, CONTEXT)
    assert SOURCE.matches({"specversion": "1.0", "type": "dev.vestige.nothing"}, CONTEXT)


def _broken(change: Any) -> dict[str, Any]:
    record = events()["0002"]
    change(record)
    return record


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (_broken(lambda r: r["data"].pop("repo")), "data.repo: Field required"),
        (
            _broken(lambda r: r.update(type="dev.vestige.task.deleted")),
            "type: unknown vestige event",
        ),
        (_broken(lambda r: r.update(type="com.example.push")), "type: 'com.example.push' is not a"),
        (_broken(lambda r: r.update(specversion="0.3")), "specversion"),
        (_broken(lambda r: r.pop("time")), "time: Field required"),
        (_broken(lambda r: r.update(time="2026-11-20 09:00")), "time: not an RFC 3339"),
        (_broken(lambda r: r.update(id="")), "id:"),
        (_broken(lambda r: r.update(id="x" * 10_000)), "id:"),
        (_broken(lambda r: r.update(source="urn:a b")), "source:"),
        (_broken(lambda r: r.update(data="{}")), "data: Input should be a valid dictionary"),
        (_broken(lambda r: r["data"].update(agent={"kind": "bot", "id": "b"})), "data.agent.kind"),
        (_broken(lambda r: r["data"]["scopes"].append("s3:*")), "data.scopes.2"),
        (_broken(lambda r: r["data"].update(credential_ids=[1])), "data.credential_ids.0"),
        (_broken(lambda r: r["data"].update(task_id=["t"])), "data.task_id"),
    ],
)
def test_invalid_records_are_refused_with_the_field(record: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidRecord) as caught:
        SOURCE.extract(record, CONTEXT)
    assert str(caught.value).startswith(reason)


def test_type_specific_data_is_checked() -> None:
    record = events()["0003"]
    record["data"]["credential_type"] = "password"
    with pytest.raises(InvalidRecord, match="data.credential_type"):
        SOURCE.extract(record, CONTEXT)
    record = events()["0005"]
    record["data"]["covers"] = [{"system": "github", "action": "push"}]
    with pytest.raises(InvalidRecord, match="data.covers.0.resource"):
        SOURCE.extract(record, CONTEXT)


def test_hostile_sizes_and_nesting() -> None:
    deep: Any = "x"
    for _ in range(5_000):
        deep = [deep]
    record = events()["0002"]
    record["data"]["x-deep"] = deep  # ignored member: not walked by validation
    record["data"]["intent"] = "y" * 1_000_000
    event = SOURCE.extract(record, CONTEXT)
    assert event.signature is not None
    assert event.signature.status is SignatureStatus.UNSIGNED
    record["data"]["scopes"] = deep
    with pytest.raises(InvalidRecord, match="data.scopes"):
        SOURCE.extract(record, CONTEXT)


def test_deep_nesting_in_a_signed_record_is_a_bad_signature(signer: ledger.Signer) -> None:
    record = signed_task(signer)
    deep: Any = 1
    for _ in range(5_000):
        deep = {"a": deep}
    record["data"]["x-deep"] = deep
    event = SOURCE.extract(record, trusting(signer))
    assert event.signature is not None and event.signature.status is SignatureStatus.FAILED


@pytest.mark.parametrize("signature", [{"alg": "rsa"}, "not an object", {"alg": "ed25519"}])
def test_a_malformed_signature_is_a_bad_signature_not_an_invalid_record(signature: object) -> None:
    record = copy.deepcopy(events()["0002"])
    record["data"]["signature"] = signature
    event = extract(record)
    assert event.signature is not None and event.signature.status is SignatureStatus.FAILED
    assert "task_record_bad_signature" in event.risk
