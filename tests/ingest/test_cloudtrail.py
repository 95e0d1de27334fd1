"""CloudTrail: known-answer records, real trails from ../shared/realdata, hostile input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.fields import utc
from ingest.interface import Context, InvalidRecord
from ingest.model import ActorKind, Outcome
from ingest.sources.cloudtrail import CloudTrail, _utc
from tests.conftest import realdata

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "ingest" / "cloudtrail"
SOURCE = CloudTrail()
CTX = Context()


def load(name: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((ASSETS / f"{name}.json").read_text())
    return record


# -- known answers --------------------------------------------------------------------


def test_agent_session_reads_object() -> None:
    event = SOURCE.extract(load("agent-session-get-object"), CTX)
    assert event.action == "s3:GetObject"  # IAM-style, not s3.amazonaws.com:GetObject
    assert event.target == "arn:aws:s3:::ws-artifacts/payments/invoice-totals.csv"
    assert event.actor.kind is ActorKind.AGENT
    assert event.actor.spiffe_id == "spiffe://corp.example/agent/ws-7f3a"
    assert event.keys.session_id == ["SEC-1234-ws-7f3a"]
    assert event.keys.ticket == ["SEC-1234"]
    assert event.keys.credential_id == ["ASIATQ3EXAMPLEZ4M7PQ"]
    assert event.attributes["access_key_type"] == "temporary"
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (6003, 2)
    assert event.risk == []


def test_assume_role_links_issuer_to_session() -> None:
    event = SOURCE.extract(load("assume-role-issue"), CTX)
    assert event.keys.credential_id == ["AKIA6ON6EXAMPLEQ3WZ5", "ASIATQ3EXAMPLEZ4M7PQ"]
    assert event.keys.session_id == ["SEC-1234-ws-7f3a"]
    assert event.keys.workspace_id == ["ws-7f3a"]  # the vestige.dev/workspace-id session tag
    assert event.attributes["issued_credential"] == {
        "id": "ASIATQ3EXAMPLEZ4M7PQ",
        "type": "temporary",
        "expiration": "2026-11-20T13:00:05.000000Z",
    }
    assert event.attributes["access_key_type"] == "long-lived"
    assert set(event.risk) == {"long_lived_credential", "credential_issued"}
    assert event.actor.kind is ActorKind.HUMAN


def test_stop_logging_is_tagged_and_targets_the_trail() -> None:
    event = SOURCE.extract(load("stop-logging"), CTX)
    assert event.action == "cloudtrail:StopLogging"
    assert event.risk == ["logging_disabled"]
    assert event.target == "arn:aws:cloudtrail:eu-west-1:210987654321:trail/org-trail"


def test_console_login_failure_without_error_code() -> None:
    event = SOURCE.extract(load("console-login-failure"), CTX)
    assert event.outcome is Outcome.FAILURE
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (3002, 1)
    assert event.actor.credential_id is None  # "" is no key
    assert "no_mfa" in event.risk


def test_create_access_key_is_account_change() -> None:
    event = SOURCE.extract(load("create-access-key"), CTX)
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == (3001, 99)
    assert event.target == "arn:aws:iam::210987654321:user/ci-deployer"
    assert event.attributes["issued_credential"]["type"] == "long-lived"
    assert "long_lived_credential" in event.risk
    assert "root_activity" in event.risk


def test_lambda_api_version_is_dropped_and_error_kept() -> None:
    event = SOURCE.extract(load("lambda-update-denied"), CTX)
    assert event.action == "lambda:UpdateFunctionCode"
    assert event.outcome is Outcome.FAILURE
    assert event.attributes["error_code"] == "AccessDenied"
    assert event.attributes["event_name"] == "UpdateFunctionCode20150331v2"


@pytest.mark.parametrize(
    ("source", "name", "action", "ocsf"),
    [
        ("s3.amazonaws.com", "PutObject", "s3:PutObject", (6003, 1)),
        ("ec2.amazonaws.com", "RunInstances", "ec2:RunInstances", (6003, 1)),
        ("ec2.amazonaws.com", "DescribeInstances", "ec2:DescribeInstances", (6003, 2)),
        ("ec2.amazonaws.com", "ModifyInstanceAttribute", "ec2:ModifyInstanceAttribute", (6003, 3)),
        ("iam.amazonaws.com", "AttachRolePolicy", "iam:AttachRolePolicy", (6003, 3)),
        ("iam.amazonaws.com", "AttachUserPolicy", "iam:AttachUserPolicy", (3001, 7)),
        ("iam.amazonaws.com", "CreateUser", "iam:CreateUser", (3001, 1)),
        ("iam.amazonaws.com", "DeleteUser", "iam:DeleteUser", (3001, 6)),
        ("s3.amazonaws.com", "DeleteObject", "s3:DeleteObject", (6003, 4)),
        ("iam.amazonaws.com", "DetachRolePolicy", "iam:DetachRolePolicy", (6003, 4)),
        ("sts.amazonaws.com", "AssumeRole", "sts:AssumeRole", (6003, 99)),
        ("monitoring.amazonaws.com", "DescribeAlarms", "cloudwatch:DescribeAlarms", (6003, 2)),
        ("lambda.amazonaws.com", "ListFunctions20150331", "lambda:ListFunctions", (6003, 2)),
        ("signin.amazonaws.com", "ConsoleLogin", "signin:ConsoleLogin", (3002, 1)),
    ],
)
def test_action_and_ocsf(source: str, name: str, action: str, ocsf: tuple[int, int]) -> None:
    record = load("agent-session-get-object")
    record.update(eventSource=source, eventName=name)
    event = SOURCE.extract(record, CTX)
    assert event.action == action
    assert (event.ocsf.class_uid, event.ocsf.activity_id) == ocsf


def test_targets_derived_from_request_parameters() -> None:
    record = load("assume-role-issue")
    del record["resources"]
    assert SOURCE.extract(record, CTX).target == "arn:aws:iam::210987654321:role/agent-workspace"
    record = load("agent-session-get-object")
    del record["resources"]
    target = SOURCE.extract(record, CTX).target
    assert target == "arn:aws:s3:::ws-artifacts/payments/invoice-totals.csv"
    record["requestParameters"] = {"secretId": "prod/db-password"}
    assert SOURCE.extract(record, CTX).target == "prod/db-password"


def test_resources_without_arn_are_skipped() -> None:
    record = load("agent-session-get-object")
    record["resources"] = [{"ARNPrefix": "arn:aws:s3:::b/", "type": "AWS::S3::Object"}, 7]
    record["requestParameters"] = {"bucketName": "b"}
    assert SOURCE.extract(record, CTX).target == "arn:aws:s3:::b"


@pytest.mark.parametrize(
    ("identity", "kind"),
    [
        ({"type": "IAMUser", "userName": "dana"}, ActorKind.HUMAN),
        ({"type": "Root"}, ActorKind.HUMAN),
        ({"type": "AWSService", "invokedBy": "lambda.amazonaws.com"}, ActorKind.SERVICE),
        ({"type": "AWSAccount", "accountId": "111111111111"}, ActorKind.UNKNOWN),
        ({"type": "Unknown"}, ActorKind.UNKNOWN),
        (
            {
                "type": "AssumedRole",
                "arn": "arn:aws:sts::1:assumed-role/AWSReservedSSO_Admin_0123/dana@corp.example",
                "sessionContext": {
                    "sessionIssuer": {
                        "arn": "arn:aws:iam::1:role/aws-reserved/sso.amazonaws.com/"
                        "AWSReservedSSO_Admin_0123"
                    }
                },
            },
            ActorKind.HUMAN,
        ),
    ],
)
def test_actor_kind(identity: dict[str, Any], kind: ActorKind) -> None:
    record = load("stop-logging")
    record["userIdentity"] = identity
    assert SOURCE.extract(record, CTX).actor.kind is kind


def test_logstash_timestamp_stands_in_for_event_time() -> None:
    record = load("agent-session-get-object")
    record["@timestamp"] = "2026-11-20T09:14:27.000Z"
    record["@version"] = "1"
    del record["eventTime"]
    assert SOURCE.extract(record, CTX).occurred_at == "2026-11-20T09:14:27.000000Z"


# -- hostile input ----------------------------------------------------------------------


@pytest.mark.parametrize("field", ["eventID", "eventTime", "eventName", "eventSource"])
def test_missing_required_field(field: str) -> None:
    record = load("stop-logging")
    del record[field]
    with pytest.raises(InvalidRecord, match=field):
        SOURCE.extract(record, CTX)


@pytest.mark.parametrize(
    "change",
    [
        {"eventID": True},
        {"eventID": ["a"]},
        {"eventID": "x" * 5000},
        {"eventTime": "yesterday"},
        {"eventTime": 1e300},
        {"eventName": {"n": 1}},
        {"eventSource": None},
    ],
)
def test_bad_required_field(change: dict[str, Any]) -> None:
    record = load("stop-logging")
    record.update(change)
    with pytest.raises(InvalidRecord):
        SOURCE.extract(record, CTX)


@pytest.mark.parametrize(
    "change",
    [
        {"userIdentity": "root"},
        {"userIdentity": {"type": ["IAMUser"], "arn": 5, "sessionContext": "x"}},
        {"requestParameters": ["bucketName"], "resources": {"ARN": "x"}},
        {"responseElements": {"credentials": "ASIA", "accessKey": [1]}},
        {"readOnly": "maybe", "errorCode": 403},
    ],
)
def test_wrong_types_in_optional_fields_are_ignored(change: dict[str, Any]) -> None:
    record = load("assume-role-issue")
    record.update(change)
    event = SOURCE.extract(record, CTX)
    assert event.source_event_id == "8e2d4a6c-1f3b-4d5e-a7c9-0b2d4f6a8c1e"


def test_not_a_record() -> None:
    assert not SOURCE.matches([], CTX)  # type: ignore[arg-type]
    assert not SOURCE.matches({"Records": []}, CTX)
    with pytest.raises(InvalidRecord):
        SOURCE.extract([], CTX)  # type: ignore[arg-type]


def test_long_free_text_is_clipped() -> None:
    record = load("lambda-update-denied")
    record["errorMessage"] = "denied " * 10_000
    assert len(SOURCE.extract(record, CTX).attributes["error_message"]) == 512


# -- real records (../shared/realdata) ----------------------------------------------------


def _stratus() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in sorted(realdata("stratus-red-team").glob("*.json")):
        records.extend(json.loads(path.read_text()))
    return records


def test_stratus_red_team_records() -> None:
    records = _stratus()
    events = {r["eventID"]: SOURCE.extract(r, CTX) for r in records}
    assert len(events) == len(records)
    by_action: dict[str, list[Any]] = {}
    for event in events.values():
        by_action.setdefault(event.action, []).append(event)
    for action in (
        "cloudtrail:StopLogging",
        "cloudtrail:DeleteTrail",
        "cloudtrail:PutEventSelectors",
    ):
        assert all("logging_disabled" in e.risk for e in by_action[action])
    assert "lambda:UpdateFunctionCode" in by_action
    federation = by_action["sts:GetFederationToken"][0]
    assert federation.attributes["issued_credential"]["id"] == "ASIASTJKC5GCM7ZE6LUP"
    assert federation.attributes["issued_credential"]["expiration"] == "2024-11-30T20:43:17.000000Z"
    assert "ASIASTJKC5GCM7ZE6LUP" in federation.keys.credential_id
    invoke = by_action["bedrock:InvokeModel"][0]
    assert invoke.actor.kind is ActorKind.SERVICE
    assert invoke.keys.session_id == ["cli"]
    assert invoke.actor.display == "cli"
    login = by_action["signin:ConsoleLogin"][0]
    assert (login.ocsf.class_uid, login.outcome) == (3002, Outcome.SUCCESS)
    failures = [e for e in events.values() if e.outcome is Outcome.FAILURE]
    assert len(failures) == sum(1 for r in records if r.get("errorCode"))


def test_cloudtrail2sightings_records() -> None:
    folder = realdata("cloudtrail2sightings")
    records = json.loads((folder / "aws.defense-evasion.cloudtrail-delete.json").read_text())
    events = [SOURCE.extract(r, CTX) for r in records["Records"]]
    delete = next(e for e in events if e.action == "cloudtrail:DeleteTrail")
    assert "logging_disabled" in delete.risk
    assert delete.keys.session_id == ["christophe.tafanidereeper"]
    assert delete.actor.credential_id == "ASIAZ3MSJV4W3HFKBOMH"


def test_otrf_logstash_records() -> None:
    folder = realdata("otrf-security-datasets/ec2_proxy_s3_exfiltration")
    lines = next(folder.glob("*.json")).read_text().splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    events = [SOURCE.extract(r, CTX) for r in records]
    assert len(events) == len(records)
    gets = [e for e in events if e.action == "s3:GetObject"]
    assert gets
    assert all(
        e.target == "arn:aws:s3:::mordors3stack-s3bucket-llp2yingx64a/ring.txt" for e in gets
    )
    assert all(e.keys.credential_id == ["ASIA5FLZVX4OPVKKVBMX"] for e in gets)
    assert all(e.keys.session_id == ["i-0317f6c6b66ae9c40"] for e in gets)
    # The instance profile's keys were issued by EC2 to the same session name.
    issues = [e for e in events if "ASIA5FLZVX4OPVKKVBMX" in e.keys.credential_id]
    assert any(e.action == "sts:AssumeRole" and e.actor.kind is ActorKind.SERVICE for e in issues)


def test_panther_records_extract_or_are_invalid() -> None:
    path = realdata("panther-analysis") / "AWS.CloudTrail.tests.jsonl"
    outcomes = {"ok": 0, "invalid": 0}
    for line in path.read_text().splitlines():
        record = json.loads(line)["log"]
        try:
            SOURCE.extract(record, CTX)
        except InvalidRecord:
            outcomes["invalid"] += 1
        else:
            outcomes["ok"] += 1
    # Partly hand-written: many tests omit eventID, which a real record always has.
    assert outcomes["ok"] > 300
    assert outcomes["invalid"] > 0


# -- the eventTime fast path agrees with ingest.fields.utc ----------------------------

_EDGE_TIMES = [
    "2024-02-29T00:00:00Z",
    "2023-02-29T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-01-00T00:00:00Z",
    "2026-01-01T24:00:00Z",
    "2026-01-01T23:59:60Z",
    "0999-01-01T00:00:00Z",
    "1000-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "0000-01-01T00:00:00Z",
    "2026-01-01T00:00:00z",
    "\uff12026-01-01T00:00:00Z",
    "2026-01-01T00:00:00.5Z",
    1_700_000_000,
    None,
]


def _utc_outcome(reader: Any, value: object) -> tuple[str, str]:
    try:
        return ("ok", reader(value))
    except InvalidRecord as exc:
        return ("invalid", str(exc))


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.sampled_from(_EDGE_TIMES),
        st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\Z"),
        st.text(max_size=24),
    )
)
def test_event_time_fast_path_matches_utc(value: object) -> None:
    assert _utc_outcome(_utc, value) == _utc_outcome(lambda v: utc(v, "eventTime"), value)
