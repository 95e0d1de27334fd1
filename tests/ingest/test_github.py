"""GitHub webhooks: saved REST deliveries, HTTP deliveries, bare payloads, hostile input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from ingest.interface import Context, InvalidRecord
from ingest.model import ActorKind, Outcome
from ingest.sources.github import GitHubWebhook
from ledger import canonicalize
from tests.conftest import realdata

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "ingest" / "github"
SOURCE = GitHubWebhook()
CTX = Context()
RECEIVED = "2024-05-05T12:00:00Z"
WITH_RECEIVED = Context(headers={"x-vestige-received-at": RECEIVED})
RECORDS = sorted(ASSETS.rglob("*.json"))
GUID = "6a2f1b90-0871-11ef-8a3e-0e1d2c3b4a59"
PUSH_COMMITS = [
    "b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e",
    "c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6",
]


def load(name: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((ASSETS / name).read_text())
    return record


def http(event: str, delivery: str | None = None, **extra: str) -> Context:
    headers = {"x-github-event": event, **extra}
    if delivery is not None:
        headers["x-github-delivery"] = delivery
    return Context(origin="http:/github", headers=headers)


# -- saved REST deliveries and HTTP deliveries -------------------------------------------


def test_rest_delivery_of_a_forced_push_by_an_app() -> None:
    event = SOURCE.extract(load("delivery-push-forced.json"), CTX)
    assert event.source == "github"
    assert event.source_event_id == GUID
    assert event.action == "push"
    assert event.target == "acme-corp/payments"
    # repository.pushed_at (epoch seconds, set by GitHub), not the committer's clock
    assert event.occurred_at == "2024-05-02T09:14:07.000000Z"
    assert event.actor.kind is ActorKind.SERVICE
    assert event.actor.id == "acme-coder[bot]"
    assert event.keys.repo == ["acme-corp/payments"]
    assert event.keys.branch == ["feature/PAY-412-retry-webhooks"]
    assert event.keys.commit == PUSH_COMMITS
    assert event.keys.ticket == ["OPS-7", "PAY-412"]
    assert event.risk == ["force_push"]
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (6003, 3)
    assert event.outcome is Outcome.SUCCESS
    assert event.attributes == {
        "event": "push",
        "delivery_id": GUID,
        "installation_id": "48123456",
        "ref": "refs/heads/feature/PAY-412-retry-webhooks",
        "forced": True,
        "created": False,
        "deleted": False,
    }


def test_http_delivery_gives_the_same_event_as_the_saved_delivery() -> None:
    saved = load("delivery-push-forced.json")
    payload = saved["request"]["payload"]
    over_http = SOURCE.extract(payload, http("push", GUID))
    assert SOURCE.matches(payload, http("push", GUID))
    assert over_http == SOURCE.extract(saved, CTX)


def test_rest_delivery_event_may_come_from_its_request_headers() -> None:
    saved = load("delivery-push-forced.json")
    del saved["event"]
    assert SOURCE.extract(saved, CTX).action == "push"


def test_rest_delivery_falls_back_to_delivered_at() -> None:
    saved = load("delivery-push-forced.json")
    saved.update(event="member", action="added")
    saved["request"]["payload"] = load("member.added.payload.json")
    event = SOURCE.extract(saved, CTX)
    assert event.action == "member.added"
    assert event.occurred_at == "2024-05-02T09:14:08.000000Z"
    assert event.attributes["occurred_at_from"] == "delivered_at"


def test_header_event_wins_over_the_payload_shape() -> None:
    payload = load("pull_request.opened.payload.json")
    event = SOURCE.extract(payload, http("issues", **{"x-vestige-received-at": RECEIVED}))
    assert event.action == "issues.opened"
    assert event.attributes["occurred_at_from"] == "received_at"  # no `issue` to date it
    # without a delivery id, the documented digest of the payload
    digest = hashlib.sha256(canonicalize(payload)).hexdigest()
    assert event.source_event_id == f"sha256:{digest}"


# -- bare payloads, one per event kind ------------------------------------------------------


def test_pull_request_opened() -> None:
    payload = load("pull_request.opened.payload.json")
    event = SOURCE.extract(payload, CTX)
    assert event.action == "pull_request.opened"
    assert event.source_event_id.startswith("sha256:")
    assert event.occurred_at == "2024-05-02T09:20:11.000000Z"
    assert event.keys.branch == ["feature/PAY-412-retry-webhooks", "main"]
    assert event.keys.commit == ["c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6"]
    assert event.keys.ticket == ["PAY-412"]
    assert event.actor.kind is ActorKind.SERVICE
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (6003, 1)
    assert event.attributes == {
        "event": "pull_request",
        "installation_id": "48123456",
        "merged": False,
    }


def test_merged_pull_request_names_its_merge_commit() -> None:
    payload = load("pull_request.opened.payload.json")
    payload["action"] = "closed"
    payload["pull_request"].update(merged=True, merge_commit_sha="d" * 40)
    event = SOURCE.extract(payload, CTX)
    assert "d" * 40 in event.keys.commit
    assert event.attributes["merged"] is True
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (6003, 3)


def test_failed_workflow_run() -> None:
    event = SOURCE.extract(load("workflow_run.completed.payload.json"), CTX)
    assert event.action == "workflow_run.completed"
    assert event.outcome is Outcome.FAILURE
    assert event.occurred_at == "2024-05-02T09:26:40.000000Z"
    assert event.keys.run_id == ["9012345678"]
    assert event.keys.branch == ["feature/PAY-412-retry-webhooks"]
    assert event.keys.commit == ["c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6"]
    assert event.keys.ticket == ["OPS-7", "PAY-412"]  # display title and head commit message
    assert event.attributes["conclusion"] == "failure"
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (6003, 99)


def test_workflow_job() -> None:
    event = SOURCE.extract(load("workflow_job.completed.payload.json"), CTX)
    assert event.action == "workflow_job.completed"
    assert event.outcome is Outcome.SUCCESS
    assert event.occurred_at == "2024-05-02T09:23:51.000000Z"  # completed_at
    assert event.keys.run_id == ["9012345678"]
    assert event.keys.ticket == ["PAY-412"]


def test_branch_created_and_deleted() -> None:
    created = SOURCE.extract(load("create.branch.payload.json"), CTX)
    assert created.action == "create"
    assert created.keys.branch == ["feature/PAY-412-retry-webhooks"]
    assert created.keys.ticket == ["PAY-412"]
    assert created.occurred_at == "2024-05-02T09:01:55.000000Z"
    assert created.attributes["ref_type"] == "branch"
    assert (created.ocsf.class_uid, created.ocsf.activity_id) == (6003, 1)
    deleted = SOURCE.extract(load("delete.branch.payload.json"), CTX)
    assert deleted.action == "delete"
    assert deleted.actor.kind is ActorKind.HUMAN
    assert deleted.actor.id == "alice-dev"
    assert (deleted.ocsf.class_uid, deleted.ocsf.activity_id) == (6003, 4)


def test_tag_is_not_a_branch() -> None:
    payload = load("create.branch.payload.json")
    payload.update(ref="v1.2.0", ref_type="tag")
    assert SOURCE.extract(payload, CTX).keys.branch == []


def test_branch_delete_push_has_no_zero_commit() -> None:
    payload = load("delivery-push-forced.json")["request"]["payload"]
    payload.update(after="0" * 40, deleted=True, forced=False, commits=[], head_commit=None)
    event = SOURCE.extract(payload, http("push", GUID))
    assert event.keys.commit == ["9f2c1e7d4b8a6f3e2d1c0b9a8f7e6d5c4b3a2f1e"]  # `before`
    assert event.risk == []
    assert event.attributes["deleted"] is True


def test_branch_protection_rule_deleted() -> None:
    event = SOURCE.extract(load("branch_protection_rule.deleted.payload.json"), CTX)
    assert event.action == "branch_protection_rule.deleted"
    assert event.risk == ["branch_protection_changed"]
    assert event.occurred_at == "2024-05-02T10:05:44.000000Z"
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (6003, 4)


def test_repository_deleted() -> None:
    event = SOURCE.extract(load("repository.deleted.payload.json"), CTX)
    assert event.action == "repository.deleted"
    assert event.risk == ["repository_deleted"]
    assert event.occurred_at == "2024-05-04T07:45:19.000000Z"


def test_member_added_uses_the_receive_time() -> None:
    payload = load("member.added.payload.json")
    with pytest.raises(InvalidRecord, match="no timestamp"):
        SOURCE.extract(payload, CTX)
    event = SOURCE.extract(payload, WITH_RECEIVED)
    assert event.action == "member.added"
    assert event.occurred_at == "2024-05-05T12:00:00.000000Z"
    assert event.attributes["occurred_at_from"] == "received_at"
    assert event.attributes["member"] == "contractor-bob"
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (3005, 1)


def test_installation_created() -> None:
    event = SOURCE.extract(load("installation.created.payload.json"), CTX)
    assert event.action == "installation.created"
    assert event.target == "acme-corp"
    assert event.keys.repo == ["acme-corp/payments"]  # the repositories it was granted
    assert event.attributes["installation_id"] == "48123456"
    assert event.occurred_at == "2024-04-30T12:00:04.000000Z"


def test_deployment() -> None:
    event = SOURCE.extract(load("deployment.created.payload.json"), CTX)
    assert event.action == "deployment.created"
    assert event.keys.commit == ["c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6"]
    assert event.occurred_at == "2024-05-02T09:30:00.000000Z"


def test_event_from_the_folder_of_a_saved_payload() -> None:
    path = ASSETS / "watch" / "started.payload.json"
    payload = json.loads(path.read_text())
    with pytest.raises(InvalidRecord, match="cannot tell"):
        SOURCE.extract(payload, WITH_RECEIVED)
    assert not SOURCE.matches(payload, CTX)
    context = Context(origin=str(path), headers=WITH_RECEIVED.headers)
    assert SOURCE.matches(payload, context)
    assert SOURCE.extract(payload, context).action == "watch.started"


def test_a_folder_does_not_overrule_the_payload() -> None:
    payload = load("pull_request.opened.payload.json")
    context = Context(origin="/home/user/release/dump.json")
    assert SOURCE.extract(payload, context).action == "pull_request.opened"


@pytest.mark.parametrize(
    ("name", "event"),
    [
        ("pull_request.opened.payload.json", "pull_request"),
        ("workflow_run.completed.payload.json", "workflow_run"),
        ("workflow_job.completed.payload.json", "workflow_job"),
        ("create.branch.payload.json", "create"),
        ("delete.branch.payload.json", "delete"),
        ("branch_protection_rule.deleted.payload.json", "branch_protection_rule"),
        ("repository.deleted.payload.json", "repository"),
        ("member.added.payload.json", "member"),
        ("installation.created.payload.json", "installation"),
        ("deployment.created.payload.json", "deployment"),
    ],
)
def test_event_from_the_payload_shape(name: str, event: str) -> None:
    payload = load(name)
    assert SOURCE.matches(payload, CTX)
    assert SOURCE.extract(payload, WITH_RECEIVED).attributes["event"] == event


@pytest.mark.parametrize(
    ("login", "account_type", "kind"),
    [
        ("alice-dev", "User", ActorKind.HUMAN),
        ("dependabot[bot]", "Bot", ActorKind.SERVICE),
        ("renovate[bot]", None, ActorKind.SERVICE),
        ("acme-corp", "Organization", ActorKind.UNKNOWN),
        ("ghost", None, ActorKind.UNKNOWN),
    ],
)
def test_actor_kind(login: str, account_type: str | None, kind: ActorKind) -> None:
    payload = load("delete.branch.payload.json")
    payload["sender"] = {"login": login, "id": 1} | ({"type": account_type} if account_type else {})
    actor = SOURCE.extract(payload, CTX).actor
    assert (actor.kind, actor.id) == (kind, login)


def test_matches_only_github() -> None:
    assert all(
        SOURCE.matches(json.loads(p.read_text()), CTX) for p in RECORDS if p.parent == ASSETS
    )
    gitlab_push = {
        "object_kind": "push",
        "ref": "refs/heads/main",
        "commits": [],
        "user_name": "alice",
        "repository": {"name": "payments", "url": "git@gitlab.example:acme/payments.git"},
    }
    k8s = {"kind": "Event", "verb": "get", "user": {"username": "system:admin"}}
    jira = {"webhookEvent": "jira:issue_updated", "user": {}, "issue": {"key": "PAY-1"}}
    audit = {"action": "git.push", "actor": "alice", "repo": "acme-corp/payments"}
    for record in (gitlab_push, k8s, jira, audit, {}):
        assert not SOURCE.matches(record, CTX)
        assert not SOURCE.matches(record, Context(origin="/x/user/dump.json"))


# -- hostile input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"guid": "x" * 5000},
        {"request": {"payload": "{}"}},
        {"request": {"payload": []}},
        {"event": "push; rm -rf /"},
        {"event": "x" * 100},
        {"delivered_at": "yesterday"},
    ],
)
def test_bad_rest_delivery(change: dict[str, Any]) -> None:
    saved = load("delivery-push-forced.json")
    saved["request"]["payload"]["repository"].pop("pushed_at")
    saved["request"]["payload"].pop("head_commit")
    saved.update(change)
    with pytest.raises(InvalidRecord):
        SOURCE.extract(saved, CTX)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("repository", "pushed_at"), "yesterday"),
        (("repository", "pushed_at"), 1e300),
        (("repository", "pushed_at"), [2024]),
    ],
)
def test_bad_timestamp(path: tuple[str, str], value: Any) -> None:
    payload = load("delivery-push-forced.json")["request"]["payload"]
    payload[path[0]][path[1]] = value
    with pytest.raises(InvalidRecord):
        SOURCE.extract(payload, http("push", GUID))


def test_bad_headers() -> None:
    payload = load("pull_request.opened.payload.json")
    with pytest.raises(InvalidRecord, match="event name"):
        SOURCE.extract(payload, http("Pull Request"))
    with pytest.raises(InvalidRecord, match="1024"):
        SOURCE.extract(payload, http("pull_request", "d" * 2000))


def test_deep_nesting_without_a_delivery_id() -> None:
    payload = load("pull_request.opened.payload.json")
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(100_000):
        node["x"] = {}
        node = node["x"]
    payload["pull_request"]["body"] = deep
    with pytest.raises(InvalidRecord):
        SOURCE.extract(payload, CTX)
    # with a delivery id nothing reads the deep part
    assert SOURCE.extract(payload, http("pull_request", GUID)).source_event_id == GUID


def test_huge_strings_are_taken_as_text() -> None:
    payload = load("delivery-push-forced.json")["request"]["payload"]
    payload["head_commit"]["message"] = "fix " * 500_000 + "PAY-9"
    assert "PAY-9" in SOURCE.extract(payload, http("push", GUID)).keys.ticket


@pytest.mark.parametrize(
    "change",
    [
        {"commits": "many"},
        {"commits": [None, 5, {"id": ["x"], "message": 7}]},
        {"sender": 5, "pusher": []},
        {"head_commit": "abc", "forced": "yes"},
        {"installation": {"id": {"n": 1}}},
        {"ref": 42},
    ],
)
def test_wrong_types_in_optional_fields_are_ignored(change: dict[str, Any]) -> None:
    payload = load("delivery-push-forced.json")["request"]["payload"]
    payload.update(change)
    event = SOURCE.extract(payload, http("push", GUID))
    assert event.source_event_id == GUID
    assert event.keys.repo == ["acme-corp/payments"]


def test_not_a_payload() -> None:
    with pytest.raises(InvalidRecord):
        SOURCE.extract({}, CTX)
    with pytest.raises(InvalidRecord):
        SOURCE.extract({"repository": {"full_name": "a/b"}, "action": "opened"}, CTX)


# -- real records (../shared/realdata) -----------------------------------------------------


LEGACY = {
    "integration_installation": "installation",
    "integration_installation_repositories": "installation_repositories",
}


def _octokit() -> list[Path]:
    root = realdata("octokit-webhooks/payload-examples")
    return sorted(root.glob("*/*/*.json")) + sorted(
        realdata("octokit-webhooks.net").glob("*/*.json")
    )


def test_octokit_payload_examples() -> None:
    files = _octokit()
    assert len(files) > 300
    for path in files:
        payload = json.loads(path.read_text())
        context = Context(origin=str(path), headers={"x-vestige-received-at": RECEIVED})
        assert SOURCE.matches(payload, context), path
        event = SOURCE.extract(payload, context)
        # GHES's legacy names read as the current ones.
        expected = LEGACY.get(path.parent.name, path.parent.name)
        assert event.attributes["event"] == expected, path
        action = payload.get("action")
        assert event.action == (f"{expected}.{action}" if action else expected)


def test_octokit_records_of_interest() -> None:
    root = realdata("octokit-webhooks/payload-examples")

    def extract(name: str) -> Any:
        path = root / name
        return SOURCE.extract(json.loads(path.read_text()), Context(origin=str(path)))

    push = extract("api.github.com/push/with-new-branch.payload.json")
    assert push.keys.branch == ["master"]
    assert push.keys.commit == ["6113728f27ae82c7b1a177c8d03f9e96e0adf246"]
    assert push.occurred_at == "2019-05-15T15:20:57.000000Z"
    assert push.attributes["created"] is True
    tag_delete = extract("api.github.com/push/payload.json")
    assert tag_delete.keys.commit == ["6113728f27ae82c7b1a177c8d03f9e96e0adf246"]
    assert tag_delete.keys.branch == []
    job = extract("api.github.com/workflow_job/completed.failure.with-organization.payload.json")
    assert job.outcome is Outcome.FAILURE
    assert job.keys.run_id == ["2202229078"]
    deleted = extract("ghes-35/repository/deleted.json")
    assert deleted.risk == ["repository_deleted"]
    assert (deleted.ocsf.class_uid, deleted.ocsf.activity_id) == (6003, 4)
    rule = extract("api.github.com/branch_protection_rule/created.payload.json")
    assert rule.risk == ["branch_protection_changed"]
    member = SOURCE.extract(
        json.loads((root / "api.github.com/member/added.payload.json").read_text()),
        WITH_RECEIVED,
    )
    assert (member.ocsf.class_uid, member.ocsf.activity_id) == (3005, 1)
    pat = realdata("octokit-webhooks.net") / "personal_access_token_request/approved.payload.json"
    approved = SOURCE.extract(json.loads(pat.read_text()), Context(origin=str(pat)))
    assert approved.action == "personal_access_token_request.approved"


def test_panther_webhook_logs() -> None:
    path = realdata("panther-analysis") / "GitHub.Webhook.tests.jsonl"
    outcomes = {"ok": 0, "invalid": 0}
    for line in path.read_text().splitlines():
        record = json.loads(line)["log"]
        try:
            SOURCE.extract(record, WITH_RECEIVED)
        except InvalidRecord:
            outcomes["invalid"] += 1
        else:
            outcomes["ok"] += 1
    # Hand-written: a few name no event at all (an action and a ref, nothing else).
    assert outcomes["ok"] >= 65
    assert outcomes["invalid"] > 0
