"""Google Cloud Audit Logs: known answers, Panther's test logs, hostile input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ingest.interface import Context, InvalidRecord
from ingest.model import ActorKind, Outcome
from ingest.sources.gcp_audit import GcpAudit
from tests.conftest import realdata

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "ingest" / "gcp-audit"
SOURCE = GcpAudit()
CTX = Context()


def load(name: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((ASSETS / f"{name}.json").read_text())
    return record


# -- known answers --------------------------------------------------------------------


def test_event_id_is_scoped_by_log_name() -> None:
    record = load("set-iam-policy-sa-key")
    event = SOURCE.extract(record, CTX)
    assert event.source_event_id == (
        "projects/corp-payments-dev/logs/cloudaudit.googleapis.com%2Factivity#1q9x3kde7m2a"
    )
    other = dict(record, logName="projects/corp-other/logs/cloudaudit.googleapis.com%2Factivity")
    assert SOURCE.extract(other, CTX).source_event_id != event.source_event_id
    del record["logName"]
    assert SOURCE.extract(record, CTX).source_event_id == "1q9x3kde7m2a"


def test_service_account_key_is_the_credential() -> None:
    event = SOURCE.extract(load("set-iam-policy-sa-key"), CTX)
    key = event.attributes["service_account_key"]
    assert key.endswith("/keys/4e1b7c9a2d5f8e0b3c6a9d2f5e8b1c4a7d0e3f6b")
    assert event.actor.credential_id == key
    assert event.keys.credential_id == [key]
    assert event.actor.kind is ActorKind.SERVICE
    assert event.action == "cloudresourcemanager.googleapis.com:SetIamPolicy"
    assert event.target == "projects/corp-payments-dev"
    assert event.risk == ["privilege_change"]
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (6003, 3)


def test_delegation_chain_names_the_original_principal() -> None:
    event = SOURCE.extract(load("impersonated-object-get"), CTX)
    assert event.actor.id == "agent-ws-7f3a@corp-payments-dev.iam.gserviceaccount.com"
    assert event.attributes["delegation_chain"] == ["dana@corp.example"]
    assert event.attributes["original_principal"] == "dana@corp.example"
    assert event.risk == ["impersonation"]
    assert event.occurred_at == "2026-11-20T09:12:44.418216Z"  # nanoseconds cut to micro


def test_workload_identity_agent() -> None:
    event = SOURCE.extract(load("workload-identity-secret-access"), CTX)
    assert event.actor.kind is ActorKind.AGENT
    assert event.actor.spiffe_id == "spiffe://corp.example/agent/ws-7f3a"
    assert event.actor.oidc_sub == "spiffe://corp.example/agent/ws-7f3a"
    assert event.risk == ["secret_access"]
    assert event.ocsf.activity_id == 2


def test_non_zero_status_is_failure() -> None:
    event = SOURCE.extract(load("instance-insert-denied"), CTX)
    assert event.outcome is Outcome.FAILURE
    assert event.attributes["status_code"] == 7
    assert event.ocsf.activity_id == 1  # insert
    record = load("instance-insert-denied")
    record["protoPayload"]["status"] = {"code": 0}
    assert SOURCE.extract(record, CTX).outcome is Outcome.SUCCESS


@pytest.mark.parametrize(
    ("email", "subject", "kind"),
    [
        ("dana@corp.example", None, ActorKind.HUMAN),
        ("ci@corp-platform.iam.gserviceaccount.com", None, ActorKind.SERVICE),
        ("service-1234@gcp-sa-logging.iam.gserviceaccount.com", None, ActorKind.SERVICE),
        ("system:serviceaccount:kube-system:replicaset-controller", None, ActorKind.SERVICE),
        (
            None,
            "principal://iam.googleapis.com/projects/1/locations/global/"
            "workloadIdentityPools/gh/subject/repo:corp/payments:ref:refs/heads/main",
            ActorKind.SERVICE,
        ),
        (None, None, ActorKind.UNKNOWN),
    ],
)
def test_actor_kind(email: str | None, subject: str | None, kind: ActorKind) -> None:
    record = load("set-iam-policy-sa-key")
    auth: dict[str, Any] = {}
    if email:
        auth["principalEmail"] = email
    if subject:
        auth["principalSubject"] = subject
    record["protoPayload"]["authenticationInfo"] = auth
    assert SOURCE.extract(record, CTX).actor.kind is kind


@pytest.mark.parametrize(
    ("method", "activity"),
    [
        ("google.iam.admin.v1.CreateServiceAccountKey", 1),
        ("v1.compute.instances.insert", 1),
        ("storage.objects.list", 2),
        ("io.k8s.core.v1.pods.exec.create", 1),
        ("beta.compute.instances.setMetadata", 3),
        ("v1.compute.subnetworks.patch", 3),
        ("storage.objects.delete", 4),
        ("google.logging.v2.ConfigServiceV2.DeleteSink", 4),
        ("SignJwt", 99),
    ],
)
def test_ocsf_by_method_verb(method: str, activity: int) -> None:
    record = load("set-iam-policy-sa-key")
    record["protoPayload"]["methodName"] = method
    assert SOURCE.extract(record, CTX).ocsf.activity_id == activity


# -- hostile input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        (("insertId",), "insertId"),
        (("timestamp",), "timestamp"),
        (("protoPayload",), "protoPayload"),
        (("protoPayload", "methodName"), "methodName"),
        (("protoPayload", "serviceName"), "serviceName"),
    ],
)
def test_missing_required_field(path: tuple[str, ...], reason: str) -> None:
    record = load("impersonated-object-get")
    node = record
    for step in path[:-1]:
        node = node[step]
    del node[path[-1]]
    with pytest.raises(InvalidRecord, match=reason):
        SOURCE.extract(record, CTX)


@pytest.mark.parametrize(
    "change",
    [
        {"insertId": ["a"]},
        {"insertId": "x" * 2000},
        {"timestamp": "not a time"},
        {"protoPayload": "AuditLog"},
    ],
)
def test_bad_required_field(change: dict[str, Any]) -> None:
    record = load("impersonated-object-get")
    record.update(change)
    with pytest.raises(InvalidRecord):
        SOURCE.extract(record, CTX)


@pytest.mark.parametrize(
    "payload_change",
    [
        {"authenticationInfo": "dana"},
        {"authenticationInfo": {"serviceAccountDelegationInfo": {"a": 1}}},
        {"authenticationInfo": {"serviceAccountDelegationInfo": [1, None, {"x": []}]}},
        {"status": {"code": "7"}, "requestMetadata": []},
        {"status": {"code": True}, "resourceName": {"name": "x"}},
    ],
)
def test_wrong_types_in_optional_fields_are_ignored(payload_change: dict[str, Any]) -> None:
    record = load("impersonated-object-get")
    record["protoPayload"].update(payload_change)
    record["resource"] = "gcs_bucket"
    assert SOURCE.extract(record, CTX).source_event_id.endswith("_169")


def test_matches_only_audit_logs() -> None:
    assert not SOURCE.matches({"jsonPayload": {"message": "hi"}}, CTX)
    request_log = {
        "protoPayload": {"@type": "type.googleapis.com/google.appengine.logging.v1.RequestLog"}
    }
    assert not SOURCE.matches(request_log, CTX)
    assert not SOURCE.matches([], CTX)  # type: ignore[arg-type]
    with pytest.raises(InvalidRecord):
        SOURCE.extract([], CTX)  # type: ignore[arg-type]


# -- real records (../shared/realdata) ----------------------------------------------------


def test_panther_records() -> None:
    path = realdata("panther-analysis") / "GCP.AuditLog.tests.jsonl"
    events = []
    for line in path.read_text().splitlines():
        record = json.loads(line)["log"]
        try:
            events.append(SOURCE.extract(record, CTX))
        except InvalidRecord:
            pass  # hand-written tests often omit insertId (Panther also lower-cases some keys)
    assert len(events) > 50
    sign = [e for e in events if e.action == "iamcredentials.googleapis.com:SignJwt"]
    assert sign
    assert all(e.actor.credential_id and "/keys/" in e.actor.credential_id for e in sign)
    assert all(e.risk and "credential_issued" in e.risk for e in sign)
    iam = [e for e in events if e.action.endswith(":SetIamPolicy")]
    assert iam
    assert all("privilege_change" in e.risk for e in iam)
    assert any(e.outcome is Outcome.FAILURE for e in events)
