"""Kubernetes audit events: known answers, falco's captured events, EKS records, hostile input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ingest.interface import Context, InvalidRecord
from ingest.model import ActorKind, Outcome
from ingest.sources.k8s_audit import K8sAudit
from tests.conftest import realdata

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "ingest" / "k8s-audit"
SOURCE = K8sAudit()
CTX = Context()


def load(name: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((ASSETS / f"{name}.json").read_text())
    return record


# -- known answers --------------------------------------------------------------------


def test_exec_by_spiffe_agent() -> None:
    event = SOURCE.extract(load("exec-pod-spiffe"), CTX)
    assert event.source_event_id == "4f2c8a1e-6b3d-4e9f-a0c7-5d1b3e8f2a6c:ResponseStarted"
    assert event.action == "create:pods/exec"
    assert event.target == "ws-7f3a/pods/payments-dev-0"
    assert event.actor.kind is ActorKind.AGENT
    assert event.actor.spiffe_id == "spiffe://corp.example/agent/ws-7f3a"
    assert event.outcome is Outcome.SUCCESS  # 101 Switching Protocols
    assert event.risk == ["interactive_session"]
    assert event.attributes["namespace"] == "ws-7f3a"
    assert event.keys.workspace_id == []  # a namespace is not a workspace key


def test_create_names_the_object_from_the_response_and_reads_the_workspace_label() -> None:
    event = SOURCE.extract(load("create-pod-workspace-label"), CTX)
    assert event.target == "ws-7f3a/pods/payments-dev-x7k2p"
    assert event.keys.workspace_id == ["ws-7f3a"]
    assert event.actor.kind is ActorKind.HUMAN
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (6003, 1)


def test_impersonation_keeps_the_real_user() -> None:
    event = SOURCE.extract(load("impersonation-forbidden"), CTX)
    assert event.actor.id == "system:serviceaccount:payments:deployer"
    assert event.attributes["real_user"] == "system:serviceaccount:ws-7f3a:agent"
    assert event.actor.kind is ActorKind.SERVICE
    assert event.outcome is Outcome.FAILURE
    assert event.keys.credential_id == ["JTI=6e0f3b9d-1a7c-4e2b-8d5f-3c9a1e7b5d2f"]
    assert set(event.risk) == {"secret_access", "impersonation"}
    assert event.attributes["response_reason"] == "Forbidden"


def test_eks_identity_links_to_cloudtrail() -> None:
    event = SOURCE.extract(load("eks-iam-role-list-pods"), CTX)
    assert event.keys.credential_id == ["ASIATQ3EXAMPLEZ4M7PQ"]
    assert event.keys.session_id == ["SEC-1234-ws-7f3a"]
    assert event.keys.ticket == ["SEC-1234"]
    assert event.actor.kind is ActorKind.SERVICE
    assert event.target == "ws-7f3a/pods"  # a list names no object
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (6003, 2)


def test_request_received_has_no_outcome_yet() -> None:
    event = SOURCE.extract(load("request-received-version"), CTX)
    assert event.outcome is Outcome.UNKNOWN
    assert event.action == "get:/version"
    assert event.target is None
    assert event.actor.kind is ActorKind.UNKNOWN
    assert event.risk == ["anonymous_access"]


def test_stages_of_one_request_are_distinct_events() -> None:
    started = load("exec-pod-spiffe")
    complete = dict(started, stage="ResponseComplete")
    ids = {SOURCE.extract(r, CTX).source_event_id for r in (started, complete)}
    assert len(ids) == 2


@pytest.mark.parametrize(
    ("username", "kind"),
    [
        ("system:serviceaccount:kube-system:replicaset-controller", ActorKind.SERVICE),
        ("system:node:ip-10-0-0-1.ec2.internal", ActorKind.SERVICE),
        ("system:kube-controller-manager", ActorKind.SERVICE),
        ("eks:addon-manager", ActorKind.SERVICE),
        ("deployer@corp-prod.iam.gserviceaccount.com", ActorKind.SERVICE),
        ("system:anonymous", ActorKind.UNKNOWN),
        ("dana@corp.example", ActorKind.HUMAN),
        ("kubernetes-admin", ActorKind.HUMAN),
        ("arn:aws:iam::210987654321:user/dana", ActorKind.HUMAN),
        ("spiffe://corp.example/agent/ws-1", ActorKind.AGENT),
    ],
)
def test_actor_kind(username: str, kind: ActorKind) -> None:
    record = load("create-pod-workspace-label")
    record["user"] = {"username": username}
    assert SOURCE.extract(record, CTX).actor.kind is kind


@pytest.mark.parametrize(
    ("verb", "activity"),
    [
        ("create", 1),
        ("get", 2),
        ("list", 2),
        ("watch", 2),
        ("update", 3),
        ("patch", 3),
        ("delete", 4),
        ("deletecollection", 4),
        ("impersonate", 99),
    ],
)
def test_ocsf_by_verb(verb: str, activity: int) -> None:
    record = load("create-pod-workspace-label")
    record["verb"] = verb
    assert SOURCE.extract(record, CTX).ocsf.activity_id == activity


def test_older_events_use_their_timestamp_field() -> None:
    record = load("create-pod-workspace-label")
    for field in ("stageTimestamp", "requestReceivedTimestamp"):
        del record[field]
    record["timestamp"] = "2026-11-20T09:01:12Z"
    assert SOURCE.extract(record, CTX).occurred_at == "2026-11-20T09:01:12.000000Z"


# -- hostile input ----------------------------------------------------------------------


@pytest.mark.parametrize("field", ["auditID", "verb"])
def test_missing_required_field(field: str) -> None:
    record = load("exec-pod-spiffe")
    del record[field]
    with pytest.raises(InvalidRecord, match=field):
        SOURCE.extract(record, CTX)


def test_missing_timestamps() -> None:
    record = load("exec-pod-spiffe")
    del record["stageTimestamp"], record["requestReceivedTimestamp"]
    with pytest.raises(InvalidRecord, match="timestamp"):
        SOURCE.extract(record, CTX)


@pytest.mark.parametrize(
    "change",
    [
        {"auditID": "a" * 2000},
        {"auditID": False},
        {"stageTimestamp": "26 Nov"},
        {"verb": ["create"]},
    ],
)
def test_bad_required_field(change: dict[str, Any]) -> None:
    record = load("exec-pod-spiffe")
    record.update(change)
    with pytest.raises(InvalidRecord):
        SOURCE.extract(record, CTX)


@pytest.mark.parametrize(
    "change",
    [
        {"user": "admin"},
        {"user": {"username": 7, "groups": "x", "extra": ["accessKeyId"]}},
        {"objectRef": ["pods"], "responseStatus": {"code": "403"}},
        {"responseStatus": {"code": True}, "sourceIPs": "10.0.0.1", "annotations": []},
        {"impersonatedUser": {"username": None}, "requestObject": {"metadata": "x"}},
        {"user": {"extra": {"accessKeyId": [], "sessionName": [None]}}},
    ],
)
def test_wrong_types_in_optional_fields_are_ignored(change: dict[str, Any]) -> None:
    record = load("impersonation-forbidden")
    record.update(change)
    assert SOURCE.extract(record, CTX).source_event_id.startswith("c2e4a6b8-")


def test_not_an_audit_event() -> None:
    assert not SOURCE.matches({"kind": 0}, CTX)  # falco's fal_01_003.json
    assert not SOURCE.matches({"kind": "Event", "involvedObject": {}, "reason": "Pulled"}, CTX)
    with pytest.raises(InvalidRecord):
        SOURCE.extract({"kind": 0}, CTX)
    with pytest.raises(InvalidRecord):
        SOURCE.extract("Event", CTX)  # type: ignore[arg-type]


# -- real records (../shared/realdata) ----------------------------------------------------


def _falco() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in sorted(realdata("falco-k8s-audit").glob("*.json")):
        text = path.read_text()
        try:
            value = json.loads(text)
        except json.JSONDecodeError:  # a few files are JSON lines
            value = [json.loads(line) for line in text.splitlines() if line.strip()]
        records.extend(value if isinstance(value, list) else [value])
    return records


def test_falco_captured_events() -> None:
    records = _falco()
    events = [SOURCE.extract(r, CTX) for r in records if SOURCE.matches(r, CTX)]
    assert len(events) == len(records) - 1  # all but {"kind": 0}
    actions = {e.action for e in events}
    assert {"create:pods/exec", "create:pods/attach", "delete:namespaces"} <= actions
    execs = [e for e in events if e.action == "create:pods/exec"]
    assert all(e.target and e.target.startswith("default/pods/") for e in execs)
    assert all("interactive_session" in e.risk for e in execs)
    controllers = [e for e in events if e.actor.id and "replicaset-controller" in e.actor.id]
    assert controllers
    assert all(e.actor.kind is ActorKind.SERVICE for e in controllers)
    # A created pod is named by the response when the request only had generateName.
    assert any(e.action == "create:pods" and e.target and e.target.count("/") == 2 for e in events)
    versions = {r.get("apiVersion") for r in records if SOURCE.matches(r, CTX)}
    assert {None, "audit.k8s.io/v1", "audit.k8s.io/v1beta1"} <= versions


def test_panther_eks_records_extract_or_are_invalid() -> None:
    path = realdata("panther-analysis") / "Amazon.EKS.Audit.tests.jsonl"
    extracted = []
    for line in path.read_text().splitlines():
        record = json.loads(line)["log"]
        try:
            extracted.append(SOURCE.extract(record, CTX))
        except InvalidRecord:
            pass  # hand-written tests often omit auditID or timestamps
    assert extracted
    keyed = [e for e in extracted if e.keys.credential_id]
    assert keyed
    assert all(k.startswith(("ASIA", "AKIA")) for e in keyed for k in e.keys.credential_id)
