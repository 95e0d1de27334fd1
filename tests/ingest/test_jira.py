"""Jira webhooks: Cloud and Server deliveries, real saved webhooks, hostile input."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ingest.interface import Context, InvalidRecord
from ingest.model import ActorKind, Outcome
from ingest.sources.jira import Jira
from tests.conftest import realdata

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "ingest" / "jira"
SOURCE = Jira()
CTX = Context()
RECEIVED = Context(headers={"x-vestige-received-at": "2024-05-05T12:00:00Z"})
ALICE = "712020:4b8e6f2a-93c1-4d55-a0e4-8c2f7d1b9e30"


def load(name: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((ASSETS / name).read_text())
    return record


def test_status_transition_on_jira_cloud() -> None:
    record = load("issue_updated.status.json")
    assert SOURCE.matches(record, CTX)
    event = SOURCE.extract(record, CTX)
    assert event.source == "jira"
    assert event.source_event_id == "jira:issue_updated:10412:1714640470123"
    assert event.occurred_at == "2024-05-02T09:01:10.123000Z"
    assert event.action == "jira:issue_updated"
    assert event.target == "PAY-412"
    assert event.keys.ticket == ["PAY-412"]
    assert (event.actor.kind, event.actor.id, event.actor.display) == (
        ActorKind.HUMAN,
        ALICE,
        "Alice Dev",
    )
    assert event.outcome is Outcome.SUCCESS
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (6003, 3)
    assert event.attributes == {
        "issue_event_type_name": "issue_generic",
        "issue_id": "10412",
        "project": "PAY",
        "status": "In Progress",
        "changelog_id": "10231",
        "transitions": [{"field": "status", "from": "To Do", "to": "In Progress"}],
    }


def test_cloud_webhook_identifier_is_the_id() -> None:
    context = Context(headers={"x-atlassian-webhook-identifier": "3d7c8a01-4f6e-4b2a-9c1d"})
    event = SOURCE.extract(load("issue_updated.status.json"), context)
    assert event.source_event_id == "3d7c8a01-4f6e-4b2a-9c1d"


def test_issue_created_by_an_app() -> None:
    event = SOURCE.extract(load("issue_created.json"), CTX)
    assert event.action == "jira:issue_created"
    assert event.actor.kind is ActorKind.SERVICE  # accountType "app"
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (6003, 1)
    assert event.attributes["status"] == "To Do"
    assert "transitions" not in event.attributes


def test_issue_deleted() -> None:
    event = SOURCE.extract(load("issue_deleted.json"), CTX)
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (6003, 4)
    assert event.keys.ticket == ["PAY-412"]


def test_comment_created() -> None:
    event = SOURCE.extract(load("comment_created.json"), CTX)
    assert event.action == "comment_created"
    assert event.source_event_id == "comment_created:10077:1714641000789"
    assert event.target == "PAY-412"
    assert event.keys.ticket == ["PAY-412"]
    assert event.actor.id == ALICE  # the comment's author; comment events have no `user`
    assert event.attributes["comment_id"] == "10077"
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (6003, 1)


def test_issue_link_created() -> None:
    event = SOURCE.extract(load("issuelink_created.json"), CTX)
    assert event.action == "issuelink_created"
    assert event.source_event_id == "issuelink_created:10220:1714641100100"
    assert event.target is None
    assert event.actor.kind is ActorKind.UNKNOWN
    assert event.attributes["link_type"] == "Blocks"
    assert event.attributes["source_issue_id"] == "10412"


def test_jira_server_user_and_transition() -> None:
    event = SOURCE.extract(load("server.issue_updated.json"), CTX)
    assert (event.actor.id, event.actor.display) == ("JIRAUSER10100", "Alice Dev")
    assert event.keys.ticket == ["OPS-7"]
    # only the status item of the changelog is a transition
    assert event.attributes["transitions"] == [
        {"field": "status", "from": "In Progress", "to": "Done"}
    ]
    assert event.attributes["status"] == "Done"


def test_logger_timestamp_is_not_trusted() -> None:
    record = load("issue_updated.status.json")
    record["timestamp"] = "2024-5-2 11:01:10,123"  # a logger's local time, no zone
    event = SOURCE.extract(record, CTX)
    assert event.occurred_at == "2024-05-02T09:01:10.098000Z"  # issue.fields.updated, +0200
    assert event.attributes["occurred_at_from"] == "issue.fields.updated"
    assert event.source_event_id == "jira:issue_updated:10412:2024-5-2 11:01:10,123"
    link = load("issuelink_created.json")
    link["timestamp"] = "2024-5-2 11:01:10,123"
    with pytest.raises(InvalidRecord, match="timestamp"):
        SOURCE.extract(link, CTX)
    assert SOURCE.extract(link, RECEIVED).occurred_at == "2024-05-05T12:00:00.000000Z"


def test_matches_only_jira() -> None:
    gitlab = {"object_kind": "issue", "user": {"name": "a"}, "object_attributes": {"iid": 1}}
    github = {"action": "opened", "issue": {"number": 1}, "sender": {"login": "a"}}
    for record in (gitlab, github, {"webhookEvent": "Jira Issue Updated"}, {}):
        assert not SOURCE.matches(record, CTX)


# -- hostile input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"webhookEvent": None},
        {"webhookEvent": ["jira:issue_updated"]},
        {"webhookEvent": "jira issue updated"},
        {"timestamp": 1e300},
        {"timestamp": None, "issue": {"id": "1", "key": "PAY-1", "fields": {"updated": "later"}}},
    ],
)
def test_bad_required_fields(change: dict[str, Any]) -> None:
    record = load("issue_updated.status.json")
    record.update(change)
    with pytest.raises(InvalidRecord):
        SOURCE.extract(record, CTX)


def test_huge_webhook_identifier() -> None:
    context = Context(headers={"x-atlassian-webhook-identifier": "i" * 5000})
    with pytest.raises(InvalidRecord, match="1024"):
        SOURCE.extract(load("comment_created.json"), context)


@pytest.mark.parametrize(
    "change",
    [
        {"user": "alice"},
        {"user": {"accountId": ["x"], "displayName": 5}},
        {"changelog": {"items": "status"}},
        {"changelog": {"items": [None, {"field": "status", "fromString": {}, "toString": 3}]}},
        {"issue": {"id": "10412", "key": ["PAY-412"], "fields": []}},
    ],
)
def test_wrong_types_in_optional_fields_are_ignored(change: dict[str, Any]) -> None:
    record = load("issue_updated.status.json")
    record.update(change)
    assert SOURCE.extract(record, CTX).source_event_id == "jira:issue_updated:10412:1714640470123"


def test_without_ids_the_payload_digest_is_the_id() -> None:
    record = {"webhookEvent": "sprint_started", "sprint": {"name": "S1"}}
    event = SOURCE.extract(record, RECEIVED)
    assert event.source_event_id.startswith("sha256:")
    assert event.source_event_id == SOURCE.extract(copy.deepcopy(record), RECEIVED).source_event_id


# -- real records (../shared/realdata) ----------------------------------------------------


def _saved_webhooks() -> tuple[list[Path], list[Path]]:
    root = realdata("jira-to-matrix/test/fixtures/webhooks")
    files = sorted(root.rglob("*.json"))
    return [p for p in files if "gitlab" not in p.parts], [p for p in files if "gitlab" in p.parts]


def test_jira_to_matrix_webhooks() -> None:
    jira, gitlab = _saved_webhooks()
    assert len(jira) >= 15
    for path in jira:
        record = json.loads(path.read_text())
        assert SOURCE.matches(record, CTX), path
        SOURCE.extract(record, RECEIVED)
    for path in gitlab:
        value = json.loads(path.read_text())
        for record in value if isinstance(value, list) else [value]:
            assert not SOURCE.matches(record, CTX), path


def test_jira_to_matrix_records_of_interest() -> None:
    root = realdata("jira-to-matrix/test/fixtures/webhooks")

    def extract(name: str) -> Any:
        return SOURCE.extract(json.loads((root / name).read_text()), RECEIVED)

    status = extract("issue/updated/status-changed.json")
    assert status.keys.ticket == ["INDEV-6"]
    assert status.attributes["transitions"] == [
        {"field": "status", "from": "To Do", "to": "In Progress"}
    ]
    assert status.attributes["status"] == "In Progress"
    # the saved `timestamp` is a logger's local time; the issue's +0300 time is used
    assert status.occurred_at == "2019-01-30T12:51:33.199000Z"
    assert status.actor.id == "5bcede20b3e37a158c364fef"
    commented = extract("issue/updated/commented.json")
    assert commented.occurred_at == "2017-11-29T16:37:19.683000Z"  # epoch milliseconds
    assert commented.source_event_id == "jira:issue_updated:26313:1511973439683"
    deleted = extract("comment/deleted.json")
    assert deleted.keys.ticket == ["INDEV-28"]
    assert deleted.occurred_at == "2018-12-20T12:41:13.803000Z"  # comment.updated
    assert (deleted.ocsf.class_uid, deleted.ocsf.activity_id) == (6003, 4)
    link = extract("issuelink/deleted.json")
    assert link.action == "issuelink_deleted"
    assert link.attributes["issuelink_id"] == "10699"
