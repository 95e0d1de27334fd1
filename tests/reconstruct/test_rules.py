"""Each gap rule on a minimal positive case (it fires) and a negative one (it does not)."""

from __future__ import annotations

from typing import Any

import pytest

from reconstruct import Code, default_policy, judge
from reconstruct.evidence import Evidence, LinkedEvent
from reconstruct.rules import disregarded, unattributed, verdict, within_scope
from tests.reconstruct.events import (
    AGENT,
    AGENT_ACTOR,
    HUMAN,
    KEY,
    ORCHESTRATOR,
    WS,
    at,
    clean,
    event,
    heartbeat,
    lifecycle,
    signature_check,
    task_record,
)

POLICY = default_policy()


def codes(events: list[LinkedEvent], broken: frozenset[int] = frozenset()) -> list[str]:
    evidence = Evidence.of(WS, events, heartbeat(), broken)
    return [f.code.value for f in judge(evidence, POLICY)[1]]


def replace(events: list[LinkedEvent], seq: int, new: LinkedEvent | None) -> list[LinkedEvent]:
    out = [e for e in events if e.seq != seq]
    return out + ([new] if new is not None else [])


def by_agent(seq: int, action: str, minutes: float, target: str, **fields: Any) -> LinkedEvent:
    actor = {
        "kind": "agent",
        "id": "arn:aws:sts::1:assumed-role/agent/ws-1",
        "credential_id": KEY,
        "spiffe_id": AGENT,
    }
    return event(
        seq,
        "cloudtrail",
        action,
        minutes,
        target=target,
        actor=actor,
        keys={"credential_id": [KEY]},
        **fields,
    )


def test_a_clean_workspace_has_no_finding_and_is_recreatable() -> None:
    evidence = Evidence.of(WS, clean(), heartbeat())
    derived, findings = judge(evidence, POLICY)
    assert findings == []
    assert verdict(derived, findings).recreatable


def test_no_task_record() -> None:
    assert codes(replace(clean(), 1, None)) == ["NO_TASK_RECORD"]


def test_no_ticket_and_no_branch() -> None:
    assert codes(replace(clean(), 1, task_record(ticket=None))) == ["NO_TICKET"]
    assert codes(replace(clean(), 1, task_record(branch=None))) == ["NO_BRANCH"]


def test_task_record_signatures() -> None:
    assert codes(replace(clean(), 1, task_record(status="unsigned"))) == ["TASK_RECORD_UNSIGNED"]
    assert codes(replace(clean(), 1, task_record(status="failed"))) == ["TASK_RECORD_BAD_SIGNATURE"]


def test_lifecycle_incomplete() -> None:
    found = codes(replace(clean(), 6, None))
    assert found == ["LIFECYCLE_INCOMPLETE"]
    assert codes(replace(clean(), 0, None)) == ["LIFECYCLE_INCOMPLETE"]


def test_credential_not_revoked_unless_revoked_or_expired_by_teardown() -> None:
    # Not revoked, and valid for an hour after the teardown at minute 10.
    assert codes(replace(clean(), 5, None)) == ["CREDENTIAL_NOT_REVOKED"]
    # Not revoked, but expired before the teardown.
    expired = lifecycle(
        2,
        "credential.issued",
        1,
        credential_id=KEY,
        credential_type="aws-sts",
        issued_by=ORCHESTRATOR,
        issued_to=AGENT_ACTOR,
        expires_at=at(8),
    )
    assert codes(replace(replace(clean(), 5, None), 2, expired)) == []
    # Revoked only well after the teardown.
    late = lifecycle(5, "credential.revoked", 30, credential_id=KEY, revoked_by=ORCHESTRATOR)
    assert codes(replace(clean(), 5, late)) == ["CREDENTIAL_NOT_REVOKED"]


def test_long_lived_credential() -> None:
    static = by_agent(
        7, "s3:PutObject", 6, "arn:aws:s3:::ws-artifacts/ws-1/b", risk=["long_lived_credential"]
    )
    assert codes(clean([static])) == ["LONG_LIVED_CREDENTIAL"]


def test_action_after_teardown() -> None:
    late = by_agent(7, "s3:GetObject", 25, "arn:aws:s3:::ws-artifacts/ws-1/a")
    assert codes(clean([late])) == ["ACTION_AFTER_TEARDOWN"]
    # Within the grace period, and a stranger acting later, are not.
    within = by_agent(7, "s3:GetObject", 10.4, "arn:aws:s3:::ws-artifacts/ws-1/a")
    stranger = event(8, "cloudtrail", "s3:GetObject", 25, actor={"kind": "human", "id": "x"})
    assert codes(clean([within, stranger])) == []


def test_evidence_tampering() -> None:
    stop = by_agent(7, "cloudtrail:StopLogging", 6, "arn:aws:cloudtrail:us-east-1:1:trail/main")
    assert codes(clean([stop])) == ["EVIDENCE_TAMPERING", "SCOPE_EXCEEDED"]
    forced = event(
        7,
        "github",
        "push",
        6,
        target="corp/payments",
        keys={"repo": ["corp/payments"], "branch": ["agent/SEC-1-fix"]},
        attributes={"forced": True},
    )
    assert codes(clean([forced])) == ["EVIDENCE_TAMPERING"]
    # A force-push to some other branch is not the workspace's trail.
    elsewhere = event(
        7,
        "github",
        "push",
        6,
        target="corp/payments",
        keys={"repo": ["corp/payments"], "branch": ["main"]},
        attributes={"forced": True},
    )
    assert codes(clean([elsewhere])) == []


def test_put_event_selectors_is_tampering_only_when_management_events_are_dropped() -> None:
    def selectors(include: bool) -> LinkedEvent:
        raw = {
            "requestParameters": {
                "eventSelectors": [{"readWriteType": "All", "includeManagementEvents": include}]
            }
        }
        return event(7, "cloudtrail", "cloudtrail:PutEventSelectors", 6, raw=raw)

    assert codes(clean([selectors(False)])) == ["EVIDENCE_TAMPERING"]
    assert codes(clean([selectors(True)])) == []


def test_unapproved_high_risk_action() -> None:
    secret = by_agent(7, "secretsmanager:GetSecretValue", 6, "arn:aws:secretsmanager:::secret:db")
    scopes = [
        {"system": "aws", "actions": ["*"], "resources": ["*"]},
        {"system": "github", "actions": ["push"], "resources": ["corp/payments"]},
    ]
    base = replace(clean([secret]), 1, task_record(scopes=scopes))
    assert codes(base) == ["UNAPPROVED_HIGH_RISK_ACTION"]
    covers = [{"system": "aws", "action": "secretsmanager:*", "resource": "*"}]
    approval = approve(8, 4, covers, received=4)
    assert codes([*base, approval]) == []
    # An approval given after the action does not cover it.
    after = approve(8, 7, covers, received=7)
    assert codes([*base, after]) == ["UNAPPROVED_HIGH_RISK_ACTION"]


def approve(
    seq: int,
    minutes: float,
    covers: list[dict[str, str]],
    received: float | None,
    status: str = "ok",
) -> LinkedEvent:
    """An approval claiming ``minutes``, received at minute ``received``, signed or not."""
    return lifecycle(
        seq,
        "approval.granted",
        minutes,
        approval_id=f"a-{seq}",
        approver=HUMAN,
        covers=covers,
        _signature=signature_check(status),
        _received=received,
    )


ANYTHING = [{"system": "*", "action": "*", "resource": "*"}]
DAY = 24 * 60


def _secret_read() -> list[LinkedEvent]:
    secret = by_agent(7, "secretsmanager:GetSecretValue", 6, "arn:aws:secretsmanager:::secret:db")
    scopes = [{"system": "aws", "actions": ["*"], "resources": ["*"]}]
    return replace(clean([secret]), 1, task_record(scopes=scopes))


def test_a_backdated_unsigned_approval_received_after_the_fact_does_not_erase_the_finding() -> None:
    # The attack: `covers: *`, a `time` before the action, no signature, sent a day later.
    attack = approve(8, 4, ANYTHING, received=DAY, status="unsigned")
    events = [*_secret_read(), attack]
    evidence = Evidence.of(WS, events, heartbeat())
    derived, findings = judge(evidence, POLICY)
    finding = next(f for f in findings if f.code is Code.UNAPPROVED_HIGH_RISK_ACTION)
    assert finding.seqs == [7, 8]
    assert "carries no signature" in finding.explanation
    assert f"reached the ledger {at(DAY)}" in finding.explanation
    assert at(4) in finding.explanation  # the claimed time is shown beside the received one
    shown = {(d.seq, d.reason, d.against) for d in disregarded(derived, evidence, POLICY)}
    assert shown == {(8, "unsigned", None), (8, "late", 7)}


def test_a_signed_approval_counts_only_when_the_ledger_received_it_in_time() -> None:
    base = _secret_read()
    late = approve(8, 4, ANYTHING, received=DAY)
    assert codes([*base, late]) == ["UNAPPROVED_HIGH_RISK_ACTION"]
    # Received within the teardown grace of the action's time: in time.
    assert codes([*base, approve(8, 4, ANYTHING, received=6.4)]) == []
    # Before the action in ledger order counts whatever the receipt says (a replayed
    # archive), and so does an entry older than receipts.
    assert codes([*base, approve(6, 4, ANYTHING, received=DAY)]) == []
    assert codes([*base, approve(6, 4, ANYTHING, received=None)]) == []
    # After the action with no receipt: nothing shows it arrived in time.
    assert codes([*base, approve(8, 4, ANYTHING, received=None)]) == ["UNAPPROVED_HIGH_RISK_ACTION"]


@pytest.mark.parametrize("status", ["unsigned", "failed"])
def test_an_approval_not_signed_by_a_trusted_approver_is_ignored(status: str) -> None:
    approval = approve(6, 4, ANYTHING, received=4, status=status)
    evidence = Evidence.of(WS, [*_secret_read(), approval], heartbeat())
    derived, findings = judge(evidence, POLICY)
    assert [f.code.value for f in findings] == ["UNAPPROVED_HIGH_RISK_ACTION"]
    (shown,) = disregarded(derived, evidence, POLICY)
    assert (shown.seq, shown.kind, shown.against) == (6, "approval", None)
    assert shown.reason == {"unsigned": "unsigned", "failed": "bad_signature"}[status]


def test_a_backdated_revocation_received_after_the_teardown_does_not_count() -> None:
    # Reported after the teardown (seq 7 > 6) a day later, claiming minute 9.
    late = lifecycle(
        7, "credential.revoked", 9, credential_id=KEY, revoked_by=ORCHESTRATOR, _received=DAY
    )
    events = replace(clean(), 5, late)
    assert codes(events) == ["CREDENTIAL_NOT_REVOKED"]
    evidence = Evidence.of(WS, events, heartbeat())
    derived, findings = judge(evidence, POLICY)
    assert f"reached the ledger {at(DAY)}" in findings[0].explanation
    (shown,) = disregarded(derived, evidence, POLICY)
    assert (shown.seq, shown.kind, shown.reason, shown.against) == (7, "revocation", "late", 6)
    assert (shown.claimed_at, shown.received_at) == (at(9), at(DAY))
    # Received within the grace of the teardown, it counts.
    timely = lifecycle(
        7, "credential.revoked", 9, credential_id=KEY, revoked_by=ORCHESTRATOR, _received=10.2
    )
    assert codes(replace(clean(), 5, timely)) == []


def test_a_providers_own_revocation_keeps_the_providers_time() -> None:
    # CloudTrail delivers in batches: DeleteAccessKey logged at minute 9, ingested later.
    delete = event(
        7,
        "cloudtrail",
        "iam:DeleteAccessKey",
        9,
        raw={"requestParameters": {"accessKeyId": KEY}},
        received=DAY,
    )
    assert codes(replace(clean(), 5, delete)) == []


def test_self_provisioned() -> None:
    own = lifecycle(0, "workspace.created", 0, created_by=AGENT_ACTOR, agent=AGENT_ACTOR)
    assert codes(replace(clean(), 0, own)) == ["SELF_PROVISIONED"]


def test_scope_exceeded() -> None:
    outside = by_agent(7, "s3:GetObject", 6, "arn:aws:s3:::payroll/2026.csv")
    scopes = [
        {"system": "aws", "actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::ws-*"]},
        {"system": "github", "actions": ["push"], "resources": ["corp/payments"]},
    ]
    base = replace(clean(), 1, task_record(scopes=scopes))
    assert codes([*base, outside]) == ["SCOPE_EXCEEDED"]
    assert codes(base) == []


def test_within_scope_reads_github_event_names_as_the_contract_does() -> None:
    opened = event(1, "github", "pull_request.opened", 0, target="corp/payments")
    scopes = [{"system": "github", "actions": ["pull_request"], "resources": ["corp/*"]}]
    assert within_scope(scopes, opened)
    assert not within_scope([{**scopes[0], "resources": ["corp/other"]}], opened)


def test_collector_silence_when_a_scoped_system_sends_nothing() -> None:
    evidence = Evidence.of(WS, replace(clean(), 3, None), heartbeat())
    assert [f.code for f in judge(evidence, POLICY)[1]] == [Code.COLLECTOR_SILENCE]


def test_collector_silence_when_the_stream_has_a_hole() -> None:
    # Heartbeats every 20 minutes; drop those from -30 to +50: the workspace's own call at
    # minute 5 is then followed by 65 minutes of silence, more than the 1 h allowed.
    sparse = [e for e in heartbeat() if e.seq not in range(102, 107)]
    found = judge(Evidence.of(WS, clean(), sparse), POLICY)[1]
    assert [f.code for f in found] == [Code.COLLECTOR_SILENCE]
    assert "silent" in found[0].explanation


def test_ledger_integrity() -> None:
    assert codes(clean(), broken=frozenset({3})) == ["LEDGER_INTEGRITY"]


def test_unattributed_action() -> None:
    rogue = event(50, "cloudtrail", "s3:ListBuckets", 3, actor={"kind": "agent", "id": "rogue"})
    human = event(51, "cloudtrail", "s3:ListBuckets", 3, actor={"kind": "human", "id": "dana"})
    mine = event(52, "cloudtrail", "s3:ListBuckets", 3, actor={"kind": "agent", "id": AGENT})
    found = unattributed([rogue, human, mine], attributed={52}, policy=POLICY)
    assert [(f.code, f.seqs) for f in found] == [(Code.UNATTRIBUTED_ACTION, [50])]


@pytest.mark.parametrize("code", ["NO_TICKET", "LIFECYCLE_INCOMPLETE"])
def test_verdict_follows_severity(code: str) -> None:
    events = (
        replace(clean(), 1, task_record(ticket=None))
        if code == "NO_TICKET"
        else replace(clean(), 6, None)
    )
    derived, findings = judge(Evidence.of(WS, events, heartbeat()), POLICY)
    result = verdict(derived, findings)
    # NO_TICKET is critical; LIFECYCLE_INCOMPLETE is medium and leaves the verdict alone.
    assert result.recreatable is (code == "LIFECYCLE_INCOMPLETE")


def test_an_iam_key_deletion_revokes_the_key_it_names_not_the_callers() -> None:
    def delete(seq: int, caller: str, deleted: str) -> LinkedEvent:
        return event(
            seq,
            "cloudtrail",
            "iam:DeleteAccessKey",
            9,
            target="arn:aws:iam::1:user/ci",
            actor={"kind": "service", "id": "ops", "credential_id": caller},
            keys={"credential_id": [caller, deleted]},
            raw={"requestParameters": {"accessKeyId": deleted, "userName": "ci"}},
        )

    unrevoked = replace(clean(), 5, None)
    assert codes([*unrevoked, delete(7, "AKIAORCHESTRATOR0001", KEY)]) == []
    # The workspace deleting someone else's key (out of its scopes, too) revokes nothing.
    found = codes([*unrevoked, delete(7, KEY, "AKIASOMEONEELSE00001")])
    assert found == ["CREDENTIAL_NOT_REVOKED", "SCOPE_EXCEEDED"]


def test_a_vault_login_token_is_a_credential_of_the_workspace() -> None:
    login = event(
        7,
        "vault",
        "update",
        2,
        target="auth/jwt/login",
        actor={"kind": "agent", "id": AGENT, "credential_id": "accessor-1"},
        keys={"workspace_id": [WS], "credential_id": ["accessor-1"]},
        attributes={"credential_event": "issued", "lease_ttl": 30 * 24 * 3600},
        raw={"type": "response", "auth": {}},
    )
    vault = [
        *task_record().data["scopes"],
        {"system": "vault", "actions": ["*"], "resources": ["*"]},
    ]
    with_vault = replace(clean([login]), 1, task_record(scopes=vault))
    assert codes(with_vault) == ["CREDENTIAL_NOT_REVOKED"]
    revoke = event(
        8,
        "vault",
        "update",
        9,
        target="auth/token/revoke-accessor",
        actor={"kind": "service", "id": "orchestrator", "credential_id": "accessor-0"},
        keys={"credential_id": ["accessor-0", "accessor-1"]},
        attributes={"credential_event": "revoked"},
        raw={"auth": {"accessor": "accessor-0"}},
    )
    assert codes([*with_vault, revoke]) == []


def test_a_production_deployment_of_the_branch_needs_an_approval() -> None:
    def deployment(environment: str) -> LinkedEvent:
        return event(
            7,
            "github",
            "deployment.created",
            8,
            target="corp/payments",
            actor={"kind": "service", "id": "ws-1-agent[bot]"},
            keys={"repo": ["corp/payments"], "branch": ["agent/SEC-1-fix"]},
            attributes={"environment": environment},
        )

    scopes = [
        *task_record().data["scopes"],
        {"system": "github", "actions": ["deployment"], "resources": ["corp/payments"]},
    ]
    base = replace(clean(), 1, task_record(scopes=scopes))
    assert codes([*base, deployment("production")]) == ["UNAPPROVED_HIGH_RISK_ACTION"]
    assert codes([*base, deployment("staging")]) == []


def test_unreadable_or_endless_expiry_means_the_credential_does_not_expire() -> None:
    def minted(seq: int, **attributes: Any) -> LinkedEvent:
        return event(
            seq,
            "cloudtrail",
            "sts:AssumeRole",
            2,
            target="arn:aws:iam::1:role/r",
            actor={"kind": "agent", "id": AGENT, "credential_id": KEY},
            keys={"credential_id": [KEY, f"ASIAMINTED{seq}"]},
            attributes=attributes,
        )

    unreadable = minted(7, issued_credential={"id": "ASIAMINTED7", "expiration": "Nov 30 at 8 PM"})
    endless = event(
        8,
        "vault",
        "read",
        2,
        target="database/creds/ro",
        actor={"kind": "agent", "id": AGENT, "credential_id": "accessor-9"},
        keys={"workspace_id": [WS], "credential_id": ["accessor-9", "lease-9"]},
        attributes={"credential_event": "issued", "lease_ttl": 10**15},
        raw={"auth": {"accessor": "accessor-9"}},
    )
    found = judge(Evidence.of(WS, clean([unreadable, endless]), heartbeat()), POLICY)[1]
    not_revoked = sorted(
        f.explanation.split()[1] for f in found if f.code.value == "CREDENTIAL_NOT_REVOKED"
    )
    assert not_revoked == ["ASIAMINTED7", "lease-9"]
    assert all(
        "does not expire" in f.explanation
        for f in found
        if f.code.value == "CREDENTIAL_NOT_REVOKED"
    )


def test_a_service_account_of_the_namespace_after_teardown_is_not_the_workspace() -> None:
    later = event(
        7,
        "k8s-audit",
        "get:pods",
        40,
        target="ws-1/pods/p",
        actor={"kind": "service", "id": f"system:serviceaccount:{WS}:default"},
    )
    assert codes(clean([later])) == ["SCOPE_EXCEEDED"]  # its own doing, but not after teardown


def test_reading_audit_configuration_is_not_tampering_but_deleting_it_is() -> None:
    def call(verb: str) -> LinkedEvent:
        return event(
            7,
            "k8s-audit",
            f"{verb}:auditsinks",
            6,
            target="auditsinks/main",
            actor={"kind": "human", "id": "admin"},
        )

    assert codes(clean([call("list")])) == []
    assert codes(clean([call("delete")])) == ["EVIDENCE_TAMPERING"]


def test_someone_elses_static_key_on_a_linked_call_is_not_the_workspaces() -> None:
    orchestrator = event(
        7,
        "cloudtrail",
        "sts:AssumeRole",
        1,
        target="arn:aws:iam::1:role/agent",
        actor={"kind": "service", "id": "orch", "credential_id": "AKIAORCH"},
        keys={"workspace_id": [WS], "credential_id": ["AKIAORCH"]},
        risk=["long_lived_credential"],
    )
    assert codes(clean([orchestrator])) == []


def test_requests_and_refusals_are_not_actions() -> None:
    def secret_read(seq: int, kind: str, outcome: str) -> LinkedEvent:
        return event(
            seq,
            "vault",
            "read",
            4,
            target="secret/data/prod/db",
            outcome=outcome,
            actor={"kind": "agent", "id": AGENT, "credential_id": KEY},
            attributes={"type": kind},
        )

    vault = [
        *task_record().data["scopes"],
        {"system": "vault", "actions": ["*"], "resources": ["*"]},
    ]
    base = replace(clean(), 1, task_record(scopes=vault))
    assert codes([*base, secret_read(7, "request", "unknown")]) == []
    assert codes([*base, secret_read(7, "response", "failure")]) == []
    assert codes([*base, secret_read(7, "response", "success")]) == ["UNAPPROVED_HIGH_RISK_ACTION"]


def test_turning_off_the_eks_audit_log_is_tampering() -> None:
    def update(enabled: bool) -> LinkedEvent:
        logging = {"clusterLogging": [{"types": ["audit", "api"], "enabled": enabled}]}
        return event(
            7,
            "cloudtrail",
            "eks:UpdateClusterConfig",
            6,
            actor={"kind": "human", "id": "admin"},
            raw={"requestParameters": {"name": "prod", "logging": logging}},
        )

    assert codes(clean([update(False)])) == ["EVIDENCE_TAMPERING"]
    assert codes(clean([update(True)])) == []
