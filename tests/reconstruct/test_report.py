"""Reports over a real ledger: linking, proofs, signatures, offline verification, jobs."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from ledger import Ledger, Record, canonicalize
from reconstruct import (
    Catalog,
    Code,
    Report,
    ReportInvalid,
    build_report,
    default_policy,
    report_bytes,
    report_name,
    run_all,
    sign_report,
    verify_report,
)
from reconstruct.correlate import TooManyLinks, link
from reconstruct.evidence import LinkedEvent
from tests.reconstruct.events import (
    AGENT,
    KEY,
    WS,
    clean,
    event,
    heartbeat,
)

POLICY = default_policy()
MINTED = "ASIAMINTEDBYWORKSPACE"


def _extra() -> list[LinkedEvent]:
    """Events linked only through the anchors, and look-alikes that must stay out."""
    return [
        event(20, "jira", "jira:issue_updated", 2, target="SEC-1", keys={"ticket": ["SEC-1"]}),
        # Same branch name in another repository: not the workspace's.
        event(21, "github", "push", 3, target="corp/other",
              keys={"repo": ["corp/other"], "branch": ["agent/SEC-1-fix"]}),
        # The workspace's key mints a session; the session's key is then the workspace's too.
        event(22, "cloudtrail", "sts:AssumeRole", 4, target="arn:aws:iam::1:role/reader",
              actor={"kind": "agent", "id": "arn:aws:sts::1:assumed-role/agent/ws-1",
                     "credential_id": KEY, "spiffe_id": AGENT},
              keys={"credential_id": [KEY, MINTED]},
              attributes={"issued_credential": {"id": MINTED, "type": "temporary",
                                                "expiration": "2026-11-20T09:08:00Z"}}),
        event(23, "cloudtrail", "s3:PutObject", 5, target="arn:aws:s3:::ws-artifacts/ws-1/b",
              actor={"kind": "unknown", "id": "arn:aws:sts::1:assumed-role/reader/x",
                     "credential_id": MINTED},
              keys={"credential_id": [MINTED]}),
        # Someone else's Jira ticket.
        event(24, "jira", "jira:issue_updated", 2, target="SEC-2", keys={"ticket": ["SEC-2"]}),
    ]  # fmt: skip


def _fill(ledger: Ledger, events: list[LinkedEvent]) -> dict[int, int]:
    """Append the events' documents; map each test seq to its ledger seq."""
    ordered = sorted(events, key=lambda e: e.seq)
    ledger.append(Record.keyed(canonicalize(dict(e.doc))) for e in ordered)
    return {e.seq: position for position, e in enumerate(ordered)}


@pytest.fixture
def ledger(make_ledger: Callable[..., Ledger]) -> Ledger:
    return make_ledger()


def test_a_report_links_through_the_anchors_and_verifies_offline(ledger: Ledger) -> None:
    seq = _fill(ledger, clean(_extra()) + heartbeat())
    report = build_report(WS, Catalog.open(ledger.store), ledger, POLICY, ledger.keys.signer())

    linked = {row.seq for row in report.timeline}
    assert linked == {seq[n] for n in (0, 1, 2, 3, 4, 5, 6, 20, 22, 23)}
    why = {row.seq: row.why for row in report.timeline}
    assert any("ticket SEC-1" in w for w in why[seq[20]])
    assert any("minted with a credential" in w for w in why[seq[23]])
    assert report.findings == [] and report.verdict.recreatable
    assert report.anchors.task_record.signature_valid and report.anchors.branch == "agent/SEC-1-fix"
    # The heartbeat around the window is cited (thinned) for the collector check.
    assert report.evidence.context and set(report.evidence.context) <= set(seq.values())

    data = report_bytes(report)
    key = ledger.keys.verifiers()[-1]
    assert verify_report(data, [key]) == report


def test_one_changed_byte_fails_verification(ledger: Ledger) -> None:
    _fill(ledger, clean() + heartbeat())
    report = build_report(WS, Catalog.open(ledger.store), ledger, POLICY, ledger.keys.signer())
    data = report_bytes(report)
    key = ledger.keys.verifiers()[-1]
    positions = range(0, len(data) - 1, max(1, len(data) // 300))
    for position in positions:
        changed = bytearray(data)
        changed[position] ^= 0x01
        with pytest.raises(ReportInvalid):
            verify_report(bytes(changed), [key])


def test_unsigned_reports_are_refused_and_an_edited_verdict_is_re_derived(
    ledger: Ledger,
) -> None:
    _fill(ledger, clean() + heartbeat())
    report = build_report(WS, Catalog.open(ledger.store), ledger, POLICY)
    keys = ledger.keys.verifiers()
    # Proofs show each entry is in the ledger, not that none was left out: unsigned is refused.
    with pytest.raises(ReportInvalid, match="not signed"):
        verify_report(report_bytes(report), keys)

    # A verdict that does not follow from the evidence fails even under a valid signature.
    document = orjson.loads(report_bytes(report))
    document["findings"] = []
    document["verdict"] = {"recreatable": False, "reasons": ["edited"]}
    edited = sign_report(Report.model_validate(document), ledger.keys.signer())
    with pytest.raises(ReportInvalid, match="verdict does not follow"):
        verify_report(report_bytes(edited), keys)


def test_findings_cite_seqs_and_the_verdict_follows(ledger: Ledger) -> None:
    late = event(30, "cloudtrail", "s3:GetObject", 25, target="arn:aws:s3:::ws-artifacts/ws-1/a",
                 actor={"kind": "agent", "id": "arn:aws:sts::1:assumed-role/agent/ws-1",
                        "credential_id": KEY, "spiffe_id": AGENT},
                 keys={"credential_id": [KEY]})  # fmt: skip
    seq = _fill(ledger, clean([late]) + heartbeat())
    report = build_report(WS, Catalog.open(ledger.store), ledger, POLICY, ledger.keys.signer())
    [finding] = report.findings
    assert finding.code is Code.ACTION_AFTER_TEARDOWN
    assert finding.seqs == sorted([seq[6], seq[30]])
    assert not report.verdict.recreatable
    assert verify_report(report_bytes(report), ledger.keys.verifiers()) == report


def test_a_modified_entry_is_a_ledger_integrity_finding(tmp_path: Path) -> None:
    from ledger import Store

    ledger = Ledger.init(Store(str(tmp_path / "l.db")), tmp_path / "home", "test/log")
    seq = _fill(ledger, clean() + heartbeat())
    # Forge entry 3 behind the ledger's back (the guard triggers stop ordinary writers).
    with sqlite3.connect(tmp_path / "l.db") as conn:
        triggers = [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")
        ]
        for name in triggers:
            conn.execute(f'DROP TRIGGER "{name}"')
        forged = {**clean()[3].doc, "target": "arn:aws:s3:::elsewhere/x"}
        conn.execute("UPDATE ledger_entry SET canonical = ? WHERE seq = ?",
                     (canonicalize(dict(forged)), seq[3]))  # fmt: skip
    report = build_report(WS, Catalog.open(ledger.store), ledger, POLICY, ledger.keys.signer())
    integrity = [f for f in report.findings if f.code is Code.LEDGER_INTEGRITY]
    assert [f.seqs for f in integrity] == [[seq[3]]]
    assert not report.verdict.recreatable
    # The report is honest about it, so it verifies: the failing proof is the one it names.
    assert verify_report(report_bytes(report), ledger.keys.verifiers()) == report


def test_all_runs_as_a_resumable_job(ledger: Ledger, tmp_path: Path) -> None:
    other = [
        event(40, "agent", "workspace.created", 0, target="ws-2", keys={"workspace_id": ["ws-2"]},
              attributes={"workspace_id": "ws-2", "created_by": {"kind": "human", "id": "d"},
                          "agent": {"kind": "agent", "id": "spiffe://x/ws-2"}}),
    ]  # fmt: skip
    _fill(ledger, clean() + heartbeat() + other)
    out = tmp_path / "reports"

    class Killed(Exception):
        pass

    def die_after_first(done: int, total: int) -> None:
        if done == 1:
            raise Killed

    with pytest.raises(Killed):
        run_all(ledger, out, POLICY, "json", ledger.keys.signer(), die_after_first)
    assert (out / f"{WS}.json").exists() and not (out / "ws-2.json").exists()

    summary = run_all(ledger, out, POLICY, "json", ledger.keys.signer())
    assert summary.resumed and summary.written == 1 and summary.total == 2
    assert summary.recreatable == 1
    index = orjson.loads((out / "index.json").read_bytes())
    assert [w["workspace"] for w in index["workspaces"]] == [WS, "ws-2"]
    assert index["workspaces"][1]["findings"]["NO_TASK_RECORD"] == 1
    key = ledger.keys.verifiers()[-1]
    for entry in index["workspaces"]:
        assert (
            verify_report((out / entry["report"]).read_bytes(), [key]).workspace
            == entry["workspace"]
        )
    # Finished: a new run starts a new job.
    assert not run_all(ledger, out, POLICY, "json", ledger.keys.signer()).resumed


def test_a_hole_in_a_collector_stream_is_found_from_the_catalogue(ledger: Ledger) -> None:
    # Heartbeats every 5 minutes, silent after minute 5 until minute 80: the workspace's own
    # call at minute 5 is the last CloudTrail event for more than the hour allowed, across
    # its teardown at minute 10.
    beats = heartbeat(start=-70, stop=150, every=5)
    minute = {e.seq: (e.seq - 100) * 5 - 70 for e in beats}
    seq = _fill(ledger, clean() + [e for e in beats if not 5 < minute[e.seq] < 80])
    report = build_report(WS, Catalog.open(ledger.store), ledger, POLICY, ledger.keys.signer())
    [finding] = report.findings
    assert finding.code is Code.COLLECTOR_SILENCE and "silent" in finding.explanation
    assert finding.seqs == [seq[100 + (5 + 70) // 5]]  # the last heartbeat before the hole
    # Few entries are cited for a busy stream: about one per max_gap, not every heartbeat.
    assert 0 < len(report.evidence.context) < 8
    assert verify_report(
        report_bytes(sign_report(report, ledger.keys.signer())), ledger.keys.verifiers()
    ) == report.model_copy(
        update={"signature": sign_report(report, ledger.keys.signer()).signature}
    )


def test_a_busy_stream_without_a_hole_has_no_finding(ledger: Ledger) -> None:
    _fill(ledger, clean() + heartbeat(start=-70, stop=150, every=5))
    report = build_report(WS, Catalog.open(ledger.store), ledger, POLICY)
    assert report.findings == [] and 0 < len(report.evidence.context) < 8


def _call(seq: int, action: str, minutes: float, credential: str, **fields: Any) -> LinkedEvent:
    actor = {"kind": "agent", "id": f"arn:aws:sts::1:assumed-role/r/{seq}",
             "credential_id": credential, **fields.pop("actor", {})}  # fmt: skip
    keys = {"credential_id": [credential, *fields.pop("issued", [])]}
    return event(seq, "cloudtrail", action, minutes, actor=actor, keys=keys, **fields)


def test_linking_does_not_depend_on_the_order_keys_are_found(ledger: Ledger) -> None:
    # The agent's key mints C2; C2 creates the static key K; K is used after the teardown.
    # The identity link reaches the CreateAccessKey before C2 is known as the workspace's.
    who = {"spiffe_id": AGENT}
    chain = [
        _call(30, "sts:AssumeRole", 2, KEY, actor=who, issued=["ASIACHAINED000000002"],
              attributes={"issued_credential": {"id": "ASIACHAINED000000002",
                                                "type": "temporary", "expiration": None}}),
        _call(31, "iam:CreateAccessKey", 3, "ASIACHAINED000000002", actor=who,
              issued=["AKIACREATED000000003"], risk=["long_lived_credential"],
              attributes={"issued_credential": {"id": "AKIACREATED000000003",
                                                "type": "long-lived", "expiration": None}}),
        _call(32, "s3:GetObject", 40, "AKIACREATED000000003", target="arn:aws:s3:::ws-artifacts/x"),
    ]  # fmt: skip
    seq = _fill(ledger, clean(chain) + heartbeat())
    report = build_report(WS, Catalog.open(ledger.store), ledger, POLICY)
    assert seq[32] in {row.seq for row in report.timeline}
    assert Code.ACTION_AFTER_TEARDOWN in {f.code for f in report.findings}


def test_a_session_name_links_only_that_sessions_calls(ledger: Ledger) -> None:
    tagged = event(30, "cloudtrail", "sts:AssumeRole", 1, target="arn:aws:iam::1:role/agent",
                   actor={"kind": "service", "id": "orchestrator", "credential_id": "ASIAORCH"},
                   keys={"workspace_id": [WS], "credential_id": ["ASIAORCH", KEY],
                         "session_id": ["orch", "agent-session"]},
                   attributes={"recipient_account": "111111111111",
                               "issued_credential": {"id": KEY, "type": "temporary",
                                                     "expiration": None}},
                   raw={"requestParameters": {"roleSessionName": "agent-session"}})  # fmt: skip

    def named(seq: int, minutes: float, account: str) -> LinkedEvent:
        return event(seq, "cloudtrail", "cloudtrail:StopLogging", minutes,
                     actor={"kind": "unknown", "id": "someone"},
                     keys={"session_id": ["agent-session"]},
                     attributes={"recipient_account": account})  # fmt: skip

    # A year earlier, and another account: the same name, not the same session.
    seq = _fill(ledger, clean([tagged, named(31, -525_600, "111111111111"),
                               named(32, 5, "222222222222"), named(33, 6, "111111111111")])
                + heartbeat())  # fmt: skip
    linked = {row.seq for row in build_report(WS, Catalog.open(ledger.store), ledger,
                                              POLICY).timeline}  # fmt: skip
    assert seq[30] in linked and seq[33] in linked
    assert seq[31] not in linked and seq[32] not in linked


def test_a_workspace_linking_too_much_is_refused_and_the_job_records_it(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(ledger, clean() + heartbeat())
    with pytest.raises(TooManyLinks, match="more than 3 events"):
        link(WS, Catalog.open(ledger.store), limit=3)
    monkeypatch.setattr("reconstruct.correlate.MAX_LINKED", 3)
    summary = run_all(ledger, tmp_path / "out", POLICY, "json", ledger.keys.signer())
    assert (summary.total, summary.recreatable) == (1, 0)
    [entry] = orjson.loads((tmp_path / "out" / "index.json").read_bytes())["workspaces"]
    assert entry["report"] is None and "more than 3 events" in entry["error"]


@pytest.mark.parametrize(
    ("workspace", "safe"),
    [("ws-7f3a", True), ("index", False), ("WS-1", False), ("../etc/passwd", False),
     ("a/b", False), ("..", False), ("", False)],
)  # fmt: skip
def test_report_names_never_leave_the_directory_or_collide(workspace: str, safe: bool) -> None:
    name = report_name(workspace, ".json")
    assert (name == f"{workspace}.json") is safe
    assert "/" not in name and not name.startswith(".") and name != "index.json"


def test_entries_that_only_claim_to_be_events_are_not_indexed(ledger: Ledger) -> None:
    # Anyone may append any JSON; a document that says it is an event but is not shaped
    # like one must neither break the catalogue nor be linked.
    fake = {"schema": "vestige.event.v1", "source": "agent", "keys": {"workspace_id": [WS]}}
    ledger.append([Record.keyed(canonicalize(fake))])
    _fill(ledger, clean() + heartbeat())
    report = build_report(WS, Catalog.open(ledger.store), ledger, POLICY)
    assert 0 not in {row.seq for row in report.timeline} and report.findings == []


def test_linking_paths_named_after_the_workspace(ledger: Ledger) -> None:
    orchestrator = {"kind": "service", "id": "orchestrator", "credential_id": "vault-orch"}
    lease = f"aws/creds/{WS}/abc123"
    others = [
        # A role session and a source identity named exactly after the workspace.
        event(30, "cloudtrail", "s3:ListBucket", 3, target="arn:aws:s3:::ws-artifacts",
              actor={"kind": "unknown", "id": "arn:aws:sts::1:assumed-role/r/ws-1"},
              keys={"session_id": [WS]}),
        event(31, "cloudtrail", "s3:ListBucket", 3, target="arn:aws:s3:::ws-artifacts",
              actor={"kind": "unknown", "id": "x"}, attributes={"source_identity": WS}),
        # An untagged lease of the Vault role named after it, and its AWS key's use.
        event(32, "vault", "read", 2, target=f"aws/creds/{WS}", actor=orchestrator,
              keys={"credential_id": ["vault-orch", lease, "AKIAFROMVAULT0000001"]},
              attributes={"type": "response", "credential_event": "issued", "lease_ttl": 300},
              raw={"auth": {"accessor": "vault-orch"}}),
        event(33, "cloudtrail", "s3:GetObject", 4, target="arn:aws:s3:::ws-artifacts/ws-1/c",
              actor={"kind": "unknown", "id": "u", "credential_id": "AKIAFROMVAULT0000001"},
              keys={"credential_id": ["AKIAFROMVAULT0000001"]}),
        # The workspace's service account acting in another namespace.
        event(34, "k8s-audit", "get:secrets", 5, target="prod/secrets/db",
              actor={"kind": "service", "id": f"system:serviceaccount:{WS}:agent"},
              attributes={"namespace": "prod", "stage": "ResponseComplete"}),
        # The repository deleted while the task was in force; and long after.
        event(35, "github", "repository.deleted", 8, target="corp/payments",
              keys={"repo": ["corp/payments"]}),
        event(36, "github", "repository.deleted", 60 * 24 * 30, target="corp/payments",
              keys={"repo": ["corp/payments"]}),
    ]  # fmt: skip
    seq = _fill(ledger, clean(others) + heartbeat())
    report = build_report(WS, Catalog.open(ledger.store), ledger, POLICY)
    linked = {row.seq for row in report.timeline}
    assert {seq[n] for n in (30, 31, 32, 33, 34, 35)} <= linked
    assert seq[36] not in linked
    found = {(f.code, tuple(f.seqs)) for f in report.findings}
    assert (Code.EVIDENCE_TAMPERING, (seq[35],)) in found
    assert any(c is Code.UNAPPROVED_HIGH_RISK_ACTION and seq[34] in s for c, s in found)
