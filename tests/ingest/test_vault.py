"""HashiCorp Vault audit device entries."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ingest.interface import Context, InvalidRecord
from ingest.model import ActorKind, Extracted, Outcome
from ingest.sources.vault import Vault

FIXTURES = Path(__file__).resolve().parents[1] / "assets" / "ingest" / "vault"
SOURCE = Vault()
CONTEXT = Context(origin="/var/log/vault/audit.log")

LOGIN = "5b1f6a3e-2c47-8d0e-9f11-3a8c2b7d4e60"
AWS_CREDS = "c3e2a1f0-7d6b-4a59-8e1c-0f9b2d3a4c5e"
KV_DENIED = "0d9c8b7a-6f5e-4d3c-2b1a-09f8e7d6c5b4"
CHILD_CREATE = "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918"
LEASE_REVOKE = "a9b8c7d6-e5f4-4a3b-8c2d-1e0f9a8b7c6d"
AUDIT_DISABLE = "f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9"
DB_CREDS = "3c4d5e6f-7081-4293-a4b5-c6d7e8f90a1b"
LEASE = "aws/creds/ws-deployer/Hx1bQ0mUe4r1ZqcV8kTn3Wp9"


def entries() -> dict[str, dict[str, Any]]:
    """Fixture entries by ``<request id>:<type>``."""
    lines = (FIXTURES / "audit.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    return {f"{r['request']['id']}:{r['type']}": r for r in records}


def extract(key: str) -> Extracted:
    record = entries()[key]
    assert SOURCE.matches(record, CONTEXT)
    return SOURCE.extract(record, CONTEXT)


def hmac_of(record: dict[str, Any], *path: str) -> str:
    node: Any = record
    for step in path:
        node = node[step]
    assert isinstance(node, str) and node.startswith("hmac-sha256:")
    return node


def test_login_request_is_unattributed_until_the_response() -> None:
    event = extract(f"{LOGIN}:request")
    assert event.source_event_id == f"{LOGIN}:request"
    assert event.occurred_at == "2026-11-20T09:00:02.118273Z"
    assert event.action == "update"
    assert event.target == "auth/approle/login"
    assert event.outcome is Outcome.UNKNOWN
    assert event.actor.kind is ActorKind.UNKNOWN and event.actor.id is None
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (3002, 1)
    assert event.keys.session_id == [LOGIN]
    assert event.keys.credential_id == []
    assert "credential_event" not in event.attributes


def test_login_response_names_the_logged_in_role() -> None:
    record = entries()[f"{LOGIN}:response"]
    event = SOURCE.extract(record, CONTEXT)
    accessor = hmac_of(record, "response", "auth", "accessor")
    assert event.source_event_id == f"{LOGIN}:response"
    assert event.outcome is Outcome.SUCCESS
    assert event.actor.kind is ActorKind.SERVICE  # AppRole: metadata.role_name
    assert event.actor.id == "8a1d3c55-0b7e-4c7f-a3e2-51f0c9d2b6aa"
    assert event.actor.display == "approle"
    assert event.actor.credential_id == accessor  # HMACed, kept as it is
    assert event.keys.credential_id == [accessor]
    assert event.keys.workspace_id == ["ws-7f3a"]
    assert event.attributes["credential_event"] == "issued"
    assert event.attributes["lease_ttl"] == 3600
    assert event.attributes["mount_type"] == "approle"
    assert event.attributes["remote_address"] == "10.42.0.17"
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (3002, 1)


def test_dynamic_aws_credentials() -> None:
    request = extract(f"{AWS_CREDS}:request")
    response = extract(f"{AWS_CREDS}:response")
    record = entries()[f"{AWS_CREDS}:response"]
    caller = hmac_of(record, "auth", "accessor")
    for event in (request, response):
        assert event.action == "read"
        assert event.target == "aws/creds/ws-deployer"
        assert event.keys.session_id == [AWS_CREDS]
        assert event.actor.display == "approle"
        assert event.actor.credential_id == caller
        assert event.keys.workspace_id == ["ws-7f3a"]
        assert event.attributes["policies"] == ["default", "ws-deployer"]
        assert (event.ocsf.class_uid, event.ocsf.activity_id) == (6003, 2)
    assert "credential_event" not in request.attributes  # asked, not yet done
    assert request.keys.credential_id == [caller]
    assert response.attributes["credential_event"] == "issued"
    access_key = hmac_of(record, "response", "data", "access_key")
    assert response.keys.credential_id == sorted([LEASE, caller, access_key])
    # Vault's audit entry has no lease duration for a secret.
    assert "lease_ttl" not in response.attributes
    assert response.outcome is Outcome.SUCCESS


def test_permission_denied() -> None:
    for kind in ("request", "response"):
        event = extract(f"{KV_DENIED}:{kind}")
        assert event.outcome is Outcome.FAILURE
        assert event.target == "secret/data/payments/prod-db"
        assert event.attributes["error"] == "1 error occurred:\n\t* permission denied\n\n"
        assert "credential_event" not in event.attributes


def test_token_create_issues_a_child_token() -> None:
    record = entries()[f"{CHILD_CREATE}:response"]
    event = SOURCE.extract(record, CONTEXT)
    parent = hmac_of(record, "auth", "accessor")
    child = hmac_of(record, "response", "auth", "accessor")
    assert event.actor.display == "approle"  # the caller, not the new token
    assert event.keys.credential_id == sorted([parent, child])
    assert event.attributes["credential_event"] == "issued"
    assert event.attributes["lease_ttl"] == 1800
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (6003, 3)


def test_lease_revocation_names_the_lease() -> None:
    event = extract(f"{LEASE_REVOKE}:response")
    assert event.target == f"sys/leases/revoke/{LEASE}"
    assert event.attributes["credential_event"] == "revoked"
    assert LEASE in event.keys.credential_id
    assert event.actor.kind is ActorKind.UNKNOWN  # a root token: whoever holds it
    assert event.actor.display == "root"
    assert event.attributes["policies"] == ["root"]


@pytest.mark.parametrize(
    ("path", "data", "event", "credential", "prefix"),
    [
        ("sys/leases/revoke", {"lease_id": LEASE}, "revoked", LEASE, None),
        ("sys/revoke/" + LEASE, None, "revoked", LEASE, None),
        ("sys/leases/revoke-prefix/aws/creds/", None, "revoked", None, "aws/creds/"),
        ("sys/leases/revoke-force/aws/", None, "revoked", None, "aws/"),
        (
            "auth/token/revoke-accessor",
            {"accessor": "hmac-sha256:ab"},
            "revoked",
            "hmac-sha256:ab",
            None,
        ),
        ("auth/token/revoke-self", None, "revoked", None, None),
        ("auth/kubernetes/login", None, "issued", None, None),
        ("auth/team/oidc/login/extra", None, "issued", None, None),
        ("auth/token/create-orphan", None, "issued", None, None),
        ("auth/token/create/ws-role", None, "issued", None, None),
        ("database/creds/readonly", None, "issued", None, None),
        ("secret/data/creds", None, None, None, None),
        ("sys/audit-hash/file", None, None, None, None),
        ("auth/token/lookup-self", None, None, None, None),
    ],
)
def test_credential_events_by_path(
    path: str, data: object, event: str | None, credential: str | None, prefix: str | None
) -> None:
    record = copy.deepcopy(entries()[f"{LEASE_REVOKE}:response"])
    record["request"]["path"] = path
    record["request"]["data"] = data
    extracted = SOURCE.extract(record, CONTEXT)
    assert extracted.attributes.get("credential_event") == event
    assert extracted.attributes.get("revoked_prefix") == prefix
    if credential:
        assert credential in extracted.keys.credential_id


def test_aws_sts_issues_only_on_an_aws_mount() -> None:
    record = copy.deepcopy(entries()[f"{AWS_CREDS}:request"])
    record["type"] = "response"
    record["request"]["path"] = "aws/sts/ws-deployer"
    assert SOURCE.extract(record, CONTEXT).attributes["credential_event"] == "issued"
    record["request"]["mount_type"] = "kv"
    assert "credential_event" not in SOURCE.extract(record, CONTEXT).attributes


def test_audit_device_disabled() -> None:
    for kind in ("request", "response"):
        event = extract(f"{AUDIT_DISABLE}:{kind}")
        assert event.action == "delete"
        assert event.target == "sys/audit/file"
        assert event.attributes["audit_change"] == "disabled"
        assert event.risk == ["audit_device_changed"]
        assert (event.ocsf.class_uid, event.ocsf.activity_id) == (6003, 4)


@pytest.mark.parametrize(
    ("path", "operation", "change"),
    [
        ("sys/audit/socket", "update", "enabled"),
        ("sys/audit", "read", None),
        ("sys/audit-hash/file", "update", None),
        ("sys/config/auditing/request-headers/X-Forwarded-For", "update", "changed"),
    ],
)
def test_audit_changes(path: str, operation: str, change: str | None) -> None:
    record = copy.deepcopy(entries()[f"{AUDIT_DISABLE}:request"])
    record["request"].update(path=path, operation=operation)
    event = SOURCE.extract(record, CONTEXT)
    assert event.attributes.get("audit_change") == change
    assert event.risk == (["audit_device_changed"] if change else [])


def test_kubernetes_service_account_in_a_namespace() -> None:
    event = extract(f"{DB_CREDS}:response")
    assert event.target == "team-a/database/creds/readonly"  # Enterprise namespace path
    assert event.actor.kind is ActorKind.SERVICE
    assert event.actor.id == "2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8091"
    assert event.actor.display == "kubernetes-agents-ws-7f3a-runner"
    assert "database/creds/readonly/6yTqL3nWc9Zb2XvK0pRs1eMd" in event.keys.credential_id
    assert event.attributes["credential_event"] == "issued"
    assert event.keys.workspace_id == []


@pytest.mark.parametrize(
    ("metadata", "display", "kind", "spiffe"),
    [
        ({"username": "dana"}, "userpass-dana", ActorKind.HUMAN, None),
        ({"role": "agent"}, "jwt-spiffe://corp.example/agent/ws-7f3a", ActorKind.AGENT, "spiffe://corp.example/agent/ws-7f3a"),
        ({"spiffe_id": "spiffe://corp.example/ws"}, "cert-agent", ActorKind.AGENT, "spiffe://corp.example/ws"),
        (None, "token", ActorKind.UNKNOWN, None),
        ("not a map", "token", ActorKind.UNKNOWN, None),
    ],
)  # fmt: skip
def test_actor_kind(metadata: object, display: str, kind: ActorKind, spiffe: str | None) -> None:
    record = copy.deepcopy(entries()[f"{AWS_CREDS}:request"])
    record["auth"].update(metadata=metadata, display_name=display, entity_id="")
    actor = SOURCE.extract(record, CONTEXT).actor
    assert actor.kind is kind
    assert actor.spiffe_id == spiffe
    assert actor.id == display  # no entity: the display name


def test_matches() -> None:
    assert all(SOURCE.matches(r, CONTEXT) for r in entries().values())
    assert not SOURCE.matches({"type": "request", "time": "t", "request": "x"}, CONTEXT)
    assert not SOURCE.matches(
        {"type": "push", "time": "t", "request": {"operation": "read"}}, CONTEXT
    )
    assert not SOURCE.matches({"specversion": "1.0", "type": "dev.vestige.task.recorded"}, CONTEXT)
    assert not SOURCE.matches({"type": ["request"], "request": {}}, CONTEXT)


def _broken(change: Any) -> dict[str, Any]:
    record = copy.deepcopy(entries()[f"{AWS_CREDS}:response"])
    change(record)
    return record


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (_broken(lambda r: r["request"].pop("id")), "missing or non-text field request.id"),
        (
            _broken(lambda r: r["request"].update(id={"a": 1})),
            "missing or non-text field request.id",
        ),
        (_broken(lambda r: r["request"].update(id="x" * 5000)), "request.id: too long"),
        (
            _broken(lambda r: r["request"].pop("operation")),
            "missing or non-text field request.operation",
        ),
        (_broken(lambda r: r.update(type="audit")), "type: expected"),
        (_broken(lambda r: r.update(request=[1, 2])), "missing or non-text field request.id"),
        (_broken(lambda r: r.pop("time")), "time: missing timestamp"),
        (_broken(lambda r: r.update(time="last tuesday")), "time: not an RFC 3339"),
    ],
)
def test_invalid_entries_are_refused(record: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidRecord) as caught:
        SOURCE.extract(record, CONTEXT)
    assert str(caught.value).startswith(reason)


def test_hostile_values_do_not_crash() -> None:
    deep: Any = "x"
    for _ in range(5_000):
        deep = {"a": deep}
    record = _broken(lambda r: r["request"].update(data=deep))
    record["auth"]["policies"] = [f"p{i}" for i in range(100_000)] + [{"x": 1}]
    record["error"] = "e" * 1_000_000
    record["response"]["secret"] = {"lease_id": 12, "ttl": True}
    event = SOURCE.extract(record, CONTEXT)
    assert len(event.attributes["policies"]) == 64
    assert len(event.attributes["error"]) == 512
    assert "12" in event.keys.credential_id  # numbers read as text (fields.text)
    assert "lease_ttl" not in event.attributes
