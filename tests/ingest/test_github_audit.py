"""GitHub audit log: REST API pages and streamed entries, real Panther logs, hostile input."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from ingest.interface import Context, InvalidRecord
from ingest.model import ActorKind, Outcome
from ingest.sources.github import GitHubWebhook
from ingest.sources.github_audit import GitHubAudit
from ledger import canonicalize
from tests.conftest import realdata

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "ingest" / "github-audit"
SOURCE = GitHubAudit()
CTX = Context()
PAGE: list[dict[str, Any]] = json.loads((ASSETS / "audit-page.json").read_text())


def entry(action: str) -> dict[str, Any]:
    found = next(e for e in PAGE if e["action"] == action)
    return copy.deepcopy(found)


def test_every_entry_of_a_page_matches() -> None:
    for record in PAGE:
        assert SOURCE.matches(record, CTX)
        assert not GitHubWebhook().matches(record, CTX)  # checked before us in the registry


def test_streamed_lines_equal_page_entries() -> None:
    lines = (ASSETS / "stream.jsonl").read_text().splitlines()
    streamed = [SOURCE.extract(json.loads(line), CTX) for line in lines]
    assert streamed == [SOURCE.extract(e, CTX) for e in PAGE[:2]]


def test_git_push_with_an_app_token() -> None:
    event = SOURCE.extract(entry("git.push"), CTX)
    assert event.source == "github-audit"
    assert event.source_event_id == "Yq3mZ8dUQ0ylNf1r6kK2sA"
    assert event.occurred_at == "2024-05-02T09:14:07.512000Z"
    assert event.action == "git.push"
    assert event.target == "acme-corp/payments"
    assert event.actor.kind is ActorKind.SERVICE
    assert event.actor.id == "acme-coder[bot]"
    assert event.actor.credential_id == "2750012345"
    assert event.keys.repo == ["acme-corp/payments"]
    # The token id and its SHA-256: an issuer that recorded either links the push.
    assert event.keys.credential_id == [
        "2750012345",
        "k3W0qQ1vJq9m2f3Jt6nJ2v7xJ8o5X1b0xq4wP2s9YcE=",
    ]
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (6003, 3)
    assert event.outcome is Outcome.SUCCESS
    assert event.attributes == {
        "actor_id": "171000001",
        "user_agent": "git/2.45.0",
        "hashed_token": "k3W0qQ1vJq9m2f3Jt6nJ2v7xJ8o5X1b0xq4wP2s9YcE=",
        "programmatic_access_type": "GitHub App server-to-server token",
        "operation_type": "modify",
        "org": "acme-corp",
        "business": "acme",
    }


def test_a_classic_personal_access_token_is_a_long_lived_credential() -> None:
    classic = {**entry("git.push"), "programmatic_access_type": "Personal access token (classic)"}
    assert SOURCE.extract(classic, CTX).risk == ["long_lived_credential"]
    assert SOURCE.extract(entry("git.push"), CTX).risk == []


def test_protected_branch_destroyed() -> None:
    event = SOURCE.extract(entry("protected_branch.destroy"), CTX)
    assert event.risk == ["branch_protection_changed"]
    assert event.keys.branch == ["main"]
    assert event.actor.kind is ActorKind.HUMAN
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (6003, 4)


def test_token_access_granted_is_an_access_change() -> None:
    event = SOURCE.extract(entry("personal_access_token.access_granted"), CTX)
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (3005, 1)
    assert event.keys.credential_id == ["88123456"]
    assert event.attributes["user"] == "contractor-bob"
    assert event.target == "acme-corp"


def test_org_member_added() -> None:
    event = SOURCE.extract(entry("org.add_member"), CTX)
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (3005, 1)
    assert event.attributes["user"] == "contractor-bob"


def test_failed_workflow_run() -> None:
    event = SOURCE.extract(entry("workflows.completed_workflow_run"), CTX)
    assert event.outcome is Outcome.FAILURE
    assert event.keys.run_id == ["9012399999"]
    assert event.keys.branch == ["feature/PAY-412-retry-webhooks"]
    assert event.keys.commit == ["c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6"]
    assert event.keys.ticket == ["PAY-412"]


def test_coding_agent_clone() -> None:
    event = SOURCE.extract(entry("git.clone"), CTX)
    assert event.actor.kind is ActorKind.AGENT  # actor_is_agent
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (6003, 2)


def test_repository_destroyed_with_a_personal_token() -> None:
    event = SOURCE.extract(entry("repo.destroy"), CTX)
    assert event.risk == ["repository_deleted"]
    assert event.actor.kind is ActorKind.HUMAN
    assert event.target == "acme-corp/payments-old"
    assert event.attributes["programmatic_access_type"] == "Fine-grained personal access token"
    assert "token_scopes" not in event.attributes  # "" is no scope list


def test_policy_override_is_a_bypass() -> None:
    record = entry("protected_branch.destroy")
    record["action"] = "protected_branch.policy_override"
    assert SOURCE.extract(record, CTX).risk == ["branch_protection_bypassed"]


@pytest.mark.parametrize(
    ("action", "operation_type", "ocsf"),
    [
        ("repo.create", None, (6003, 1)),
        ("repo.create", "create", (6003, 1)),
        ("repo.access", "modify", (6003, 3)),  # visibility change, despite its name
        ("hook.destroy", None, (6003, 4)),
        ("integration_installation.uninstall", None, (6003, 4)),
        ("git.fetch", None, (6003, 2)),
        ("org.update_member", None, (3005, 99)),
        ("repo.remove_member", None, (3005, 2)),
        ("team.promote_maintainer", None, (3005, 1)),
        ("business.add_admin", None, (3005, 1)),
        ("user.suspend", None, (3001, 5)),
        ("two_factor_authentication.disabled", None, (3001, 11)),
        ("enterprise.config.disable_anonymous_git_access", None, (6003, 3)),
        ("repository_vulnerability_alert.dismiss", None, (6003, 99)),
    ],
)
def test_ocsf(action: str, operation_type: str | None, ocsf: tuple[int, int]) -> None:
    record = {"action": action, "actor": "alice-dev", "@timestamp": 1714641247512}
    if operation_type:
        record["operation_type"] = operation_type
    event = SOURCE.extract(record, CTX)
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == ocsf


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        ({"actor": "dependabot[bot]"}, ActorKind.SERVICE),
        ({"actor_is_bot": True}, ActorKind.SERVICE),
        ({"programmatic_access_type": "Deploy key"}, ActorKind.SERVICE),
        ({"programmatic_access_type": "GitHub App server-to-server token"}, ActorKind.SERVICE),
        ({"programmatic_access_type": "GitHub App user-to-server token"}, ActorKind.HUMAN),
        ({"programmatic_access_type": "OAuth access token"}, ActorKind.HUMAN),
        ({"actor_is_agent": True, "actor": "Copilot"}, ActorKind.AGENT),
        ({"actor": ""}, ActorKind.UNKNOWN),
    ],
)
def test_actor_kind(change: dict[str, Any], kind: ActorKind) -> None:
    record = {"action": "git.push", "actor": "alice-dev", "@timestamp": 1714641247512, **change}
    assert SOURCE.extract(record, CTX).actor.kind is kind


def test_time_sources() -> None:
    record = {"action": "repo.create", "actor": "a", "created_at": "2022-12-11 22:40:20.268"}
    assert SOURCE.extract(record, CTX).occurred_at == "2022-12-11T22:40:20.268000Z"
    # Panther renames @timestamp; it wins over created_at (an alert's creation time)
    record["at_sign_timestamp"] = "2024-04-09 06:17:55.186000000"
    assert SOURCE.extract(record, CTX).occurred_at == "2024-04-09T06:17:55.186000Z"
    del record["created_at"], record["at_sign_timestamp"]
    with pytest.raises(InvalidRecord, match="no @timestamp"):
        SOURCE.extract(record, CTX)
    received = Context(headers={"x-vestige-received-at": "2024-05-05T12:00:00Z"})
    event = SOURCE.extract(record, received)
    assert event.occurred_at == "2024-05-05T12:00:00.000000Z"
    assert event.attributes["occurred_at_from"] == "received_at"
    digest = hashlib.sha256(canonicalize(record)).hexdigest()
    assert event.source_event_id == f"sha256:{digest}"  # no _document_id


def test_matches_only_github_audit() -> None:
    slack = {"action": "user_login", "actor": {"type": "user", "user": {"id": "W1"}}}
    webhook = {"action": "opened", "sender": {"login": "a"}, "repository": {"full_name": "a/b"}}
    dotted_webhook = {"action": "a.b", "actor": "x", "sender": {"login": "a"}}
    for record in (slack, webhook, dotted_webhook, {"action": "repo.create"}, {}):
        assert not SOURCE.matches(record, CTX)


# -- hostile input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"action": None},
        {"action": ["git.push"]},
        {"action": "git push"},
        {"action": "git." + "x" * 300},
        {"_document_id": "d" * 2000},
        {"@timestamp": "yesterday"},
        {"@timestamp": 1e300},
        {"@timestamp": True},
    ],
)
def test_bad_required_fields(change: dict[str, Any]) -> None:
    record = entry("git.push")
    record.update(change)
    with pytest.raises(InvalidRecord):
        SOURCE.extract(record, CTX)


@pytest.mark.parametrize(
    "change",
    [
        {"actor": {"login": "a"}},
        {"token_id": [1], "hashed_token": {"x": 1}},
        {"repo": 5, "repository": None},
        {"branch": ["main"], "head_branch": 7},
        {"actor_is_agent": "yes", "actor_is_bot": "no"},
    ],
)
def test_wrong_types_in_optional_fields_are_ignored(change: dict[str, Any]) -> None:
    record = entry("git.push")
    record.update(change)
    assert SOURCE.extract(record, CTX).source_event_id == "Yq3mZ8dUQ0ylNf1r6kK2sA"


def test_deep_nesting_without_a_document_id() -> None:
    record = entry("git.push")
    del record["_document_id"]
    deep: list[Any] = []
    node = deep
    for _ in range(100_000):
        node.append([])
        node = node[0]
    record["config"] = deep
    with pytest.raises(InvalidRecord):
        SOURCE.extract(record, CTX)


# -- real records (../shared/realdata) ----------------------------------------------------


def _panther() -> list[dict[str, Any]]:
    path = realdata("panther-analysis") / "GitHub.Audit.tests.jsonl"
    return [json.loads(line)["log"] for line in path.read_text().splitlines()]


def test_panther_audit_logs() -> None:
    outcomes = {"ok": 0, "invalid": 0}
    for record in _panther():
        try:
            SOURCE.extract(record, CTX)
        except InvalidRecord:
            outcomes["invalid"] += 1
        else:
            outcomes["ok"] += 1
    # Hand-written: many omit every timestamp, one has "2024-12-17 00:00:00000000".
    assert outcomes["ok"] >= 60
    assert outcomes["invalid"] > 0
    received = Context(headers={"x-vestige-received-at": "2024-05-05T12:00:00Z"})
    matched = [r for r in _panther() if SOURCE.matches(r, received)]
    assert len(matched) >= 95  # all but the two whose action is not category.operation


def test_panther_records_of_interest() -> None:
    by_id = {r.get("_document_id"): r for r in _panther()}
    clone_record = by_id["KCYtigpnShPBSohA4OXbRg=="]
    clone = SOURCE.extract(clone_record, CTX)
    assert clone.action == "git.clone"
    assert clone.keys.credential_id == sorted(["0123456789", clone_record["hashed_token"]])
    assert clone.attributes["hashed_token"] == clone_record["hashed_token"]
    assert clone.attributes["programmatic_access_type"] == "OAuth access token"
    assert (clone.ocsf.class_uid, clone.ocsf.activity_id) == (6003, 2)
    run = SOURCE.extract(by_id["pWWWWWWWWWWWWWWWWWWWWW"], CTX)
    assert run.outcome is Outcome.FAILURE
    assert run.keys.run_id == ["5555555555"]
    assert run.keys.commit == ["66dddddddddddddddddddddddddddddddddddddd"]
    dismissed = SOURCE.extract(by_id["Z7JUOWzi2wKeWsZcOhbS9w"], CTX)
    assert dismissed.occurred_at == "2024-04-09T06:17:55.186000Z"  # not the alert's created_at
    dispatch = next(r for r in _panther() if r.get("actor_is_bot") is True)
    assert SOURCE.extract(dispatch, CTX).actor.kind is ActorKind.SERVICE
