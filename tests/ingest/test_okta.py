"""Okta System Log: known answers, Panther's test logs and scenarios, hostile input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ingest.interface import Context, InvalidRecord
from ingest.model import ActorKind, Outcome
from ingest.sources.okta import Okta
from tests.conftest import realdata

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "ingest" / "okta"
SOURCE = Okta()
CTX = Context()


def load(name: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((ASSETS / f"{name}.json").read_text())
    return record


# -- known answers --------------------------------------------------------------------


def test_session_start() -> None:
    event = SOURCE.extract(load("session-start"), CTX)
    assert event.source_event_id == "3f8b2c1e-a6d7-11f0-9c41-4b7e2d9a1c05"
    assert event.action == "user.session.start"
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (3002, 1)
    assert event.keys.session_id == ["102Xy7aQ2bCtV0s5pN3hRk9Lw"]
    assert event.attributes["transaction_id"] == "c0b1a2d3e4f5a6b7c8d9e0f1a2b3c4d5"
    assert event.actor.kind is ActorKind.HUMAN
    assert (event.actor.id, event.actor.display) == ("00u8k2qx4aBcD3eF9697", "dana@corp.example")
    assert event.target == "pfd1a2b3c4D5e6F7g697"  # alternateId "unknown" is no name
    assert event.occurred_at == "2026-11-20T08:58:12.511000Z"


def test_failed_login_has_no_actor_id_or_session() -> None:
    event = SOURCE.extract(load("login-failure"), CTX)
    assert event.outcome is Outcome.FAILURE
    assert event.actor.id is None  # Okta logs "unknown"
    assert event.actor.display == "dana@corp.example"
    assert event.keys.session_id == []
    assert event.target is None
    assert event.attributes["outcome_reason"] == "VERIFICATION_ERROR"


def test_privilege_grant_targets_the_user() -> None:
    event = SOURCE.extract(load("privilege-grant"), CTX)
    assert event.target == "agent-ws-7f3a@corp.example"
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (3001, 7)
    assert event.risk == ["privilege_change"]
    assert event.attributes["targets"][0]["id"] == "00u9agentWs7f3aXyZ697"


def test_api_token_is_the_credential() -> None:
    event = SOURCE.extract(load("deactivate-with-api-token"), CTX)
    assert event.actor.credential_id == "00T4orchTok3n5ab697"
    assert event.keys.credential_id == ["00T4orchTok3n5ab697"]
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (3001, 5)
    created = SOURCE.extract(load("api-token-create"), CTX)
    assert created.keys.credential_id == ["00T7agentWs7f3aTk697"]
    assert set(created.risk) == {"credential_issued", "long_lived_credential"}


@pytest.mark.parametrize(
    ("event_type", "ocsf"),
    [
        ("user.session.start", (3002, 1)),
        ("user.session.end", (3002, 2)),
        ("user.authentication.sso", (3002, 1)),
        ("user.authentication.auth_via_mfa", (3002, 99)),
        ("user.lifecycle.create", (3001, 1)),
        ("user.lifecycle.delete.initiated", (3001, 6)),
        ("user.account.reset_password", (3001, 4)),
        ("user.account.update_profile", (3001, 99)),
        ("group.user_membership.add", (3001, 99)),
        ("user.mfa.factor.deactivate", (3001, 11)),
        ("application.lifecycle.update", (6003, 99)),
        ("system.org.rate_limit.warning", (6003, 99)),
    ],
)
def test_ocsf_by_event_type(event_type: str, ocsf: tuple[int, int]) -> None:
    record = load("privilege-grant")
    record["eventType"] = event_type
    event = SOURCE.extract(record, CTX)
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == ocsf


@pytest.mark.parametrize(
    ("result", "outcome"),
    [
        ("SUCCESS", Outcome.SUCCESS),
        ("ALLOW", Outcome.SUCCESS),
        ("FAILURE", Outcome.FAILURE),
        ("DENY", Outcome.FAILURE),
        ("CHALLENGE", Outcome.UNKNOWN),
        (None, Outcome.UNKNOWN),
    ],
)
def test_outcome(result: str | None, outcome: Outcome) -> None:
    record = load("session-start")
    record["outcome"] = {"result": result}
    assert SOURCE.extract(record, CTX).outcome is outcome


@pytest.mark.parametrize(
    ("actor_type", "kind"),
    [
        ("User", ActorKind.HUMAN),
        ("SystemPrincipal", ActorKind.SERVICE),
        ("PublicClientApp", ActorKind.SERVICE),
        ("Mystery", ActorKind.UNKNOWN),
    ],
)
def test_actor_kind(actor_type: str, kind: ActorKind) -> None:
    record = load("session-start")
    record["actor"]["type"] = actor_type
    assert SOURCE.extract(record, CTX).actor.kind is kind


# -- hostile input ----------------------------------------------------------------------


@pytest.mark.parametrize("field", ["uuid", "eventType", "published"])
def test_missing_required_field(field: str) -> None:
    record = load("session-start")
    del record[field]
    with pytest.raises(InvalidRecord, match=field):
        SOURCE.extract(record, CTX)


@pytest.mark.parametrize(
    "change",
    [
        {"uuid": {"id": 1}},
        {"uuid": "u" * 2000},
        {"published": "redacted"},
        {"eventType": ""},
    ],
)
def test_bad_required_field(change: dict[str, Any]) -> None:
    record = load("session-start")
    record.update(change)
    with pytest.raises(InvalidRecord):
        SOURCE.extract(record, CTX)


@pytest.mark.parametrize(
    "change",
    [
        {"actor": "dana", "target": {"id": "x"}},
        {"target": [None, 3, {"id": ["x"]}], "outcome": "SUCCESS"},
        {"transaction": {"detail": "token"}, "authenticationContext": []},
        {"client": {"userAgent": "Safari"}, "debugContext": {"debugData": None}},
    ],
)
def test_wrong_types_in_optional_fields_are_ignored(change: dict[str, Any]) -> None:
    record = load("privilege-grant")
    record.update(change)
    assert SOURCE.extract(record, CTX).source_event_id == "b6c4e2a0-a6d8-11f0-a3f5-7d1b9e3c5a27"


def test_many_targets_are_capped() -> None:
    record = load("privilege-grant")
    record["target"] = [{"id": f"00g{i}", "type": "UserGroup"} for i in range(500)]
    event = SOURCE.extract(record, CTX)
    assert len(event.attributes["targets"]) == 10
    assert event.target == "00g0"


def test_not_an_okta_event() -> None:
    assert not SOURCE.matches({"uuid": "x", "eventType": "y"}, CTX)
    assert not SOURCE.matches([], CTX)  # type: ignore[arg-type]
    with pytest.raises(InvalidRecord):
        SOURCE.extract([], CTX)  # type: ignore[arg-type]


# -- real records (../shared/realdata) ----------------------------------------------------


def test_panther_records() -> None:
    path = realdata("panther-analysis") / "Okta.SystemLog.tests.jsonl"
    events = []
    for line in path.read_text().splitlines():
        record = json.loads(line)["log"]
        try:
            events.append(SOURCE.extract(record, CTX))
        except InvalidRecord:
            pass  # hand-written tests omit fields; Panther also lower-cases some keys
    assert len(events) > 15
    starts = [e for e in events if e.action == "user.session.start"]
    assert starts
    assert all(e.ocsf.class_uid == 3002 for e in starts)
    assert any(e.keys.session_id for e in starts)
    tokens = [e for e in events if e.actor.credential_id]
    assert tokens
    assert all(e.actor.credential_id and e.actor.credential_id.startswith("00T") for e in tokens)


def test_panther_add_administrator_scenario() -> None:
    yaml = pytest.importorskip("yaml")
    folder = realdata("panther-analysis/test_scenarios/okta-add-administrator")
    events = []
    for path in sorted(folder.glob("*.yml")):
        for record in yaml.safe_load(path.read_text())["Logs"]:
            # YAML reads unquoted timestamps as datetimes; the JSON log has text.
            record["published"] = str(record["published"])
            events.append(SOURCE.extract(record, CTX))
    grants = [e for e in events if e.action == "user.account.privilege.grant"]
    assert grants
    assert all("privilege_change" in e.risk for e in grants)
    assert any(e.outcome is Outcome.FAILURE for e in events)  # the brute-force logins
