"""Late events must not rewrite the past: an approval ingested after the action it
would cover leaves the finding, and the signed report shows it as set aside (real stores)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest import IngestStore, Pipeline, Redactor
from ingest.fields import utc
from ledger import Ledger, Signer, canonicalize
from reconstruct import (
    FORMATS,
    Catalog,
    Code,
    build_report,
    default_policy,
    report_bytes,
    verify_report,
)
from vestige.scenario import Scenario, generate, write

ANYTHING = [{"system": "*", "action": "*", "resource": "*"}]


@pytest.fixture
def world(make_ledger: Callable[..., Ledger], tmp_path: Path) -> tuple[Ledger, Scenario, str]:
    scenario = generate(1, seed=7, gaps={0: ["UNAPPROVED_HIGH_RISK_ACTION"]}, noise=False)
    (workspace,) = (ws for ws in scenario.truth if ws)
    ledger = make_ledger()
    verifier = scenario.signer.verifier
    IngestStore(ledger.store).add_trust("ed25519", verifier.encode(), key_id=verifier.key_id.hex())
    return ledger, scenario, workspace


def _approval(scenario: Scenario, workspace: str, signer: Signer | None) -> dict[str, Any]:
    """`covers: *`, backdated to the workspace's creation."""
    created = next(
        r for r in scenario.records["agent"] if r["type"] == "dev.vestige.workspace.created"
    )
    data: dict[str, Any] = {
        "workspace_id": workspace,
        "approval_id": "apr-backdated",
        "approver": {"kind": "human", "id": "mallory@corp.example"},
        "covers": ANYTHING,
    }
    if signer is not None:
        value = base64.b64encode(signer.sign(canonicalize(data))).decode()
        data["signature"] = {"alg": "ed25519", "key_id": signer.verifier.key_id.hex(),
                             "value": value}  # fmt: skip
    return {
        "specversion": "1.0", "id": "apr-1", "source": "urn:example:approvals",
        "type": "dev.vestige.approval.granted", "time": created["time"], "data": data,
    }  # fmt: skip


def _ingest(ledger: Ledger, paths: list[Path]) -> None:
    pipeline = Pipeline(ledger, Redactor(b"\x05" * 32))
    for path in paths:
        assert pipeline.ingest_paths("auto", [path]).total.quarantined == 0


def _report(ledger: Ledger, workspace: str) -> Any:
    report = build_report(
        workspace, Catalog.open(ledger.store), ledger, default_policy(), ledger.keys.signer()
    )
    # verify-report re-runs the rules offline from the entries' bytes: same result.
    assert verify_report(report_bytes(report), ledger.keys.verifiers()) == report
    return report


def _files(scenario: Scenario, tmp_path: Path, approval: dict[str, Any]) -> dict[str, Path]:
    files = write(scenario, tmp_path / "in")
    files["approval"] = tmp_path / "approval.json"
    files["approval"].write_bytes(orjson.dumps(approval))
    return files


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_an_approval_ingested_after_the_action_leaves_the_finding(
    world: tuple[Ledger, Scenario, str], tmp_path: Path, signed: bool
) -> None:
    ledger, scenario, workspace = world
    approval = _approval(scenario, workspace, scenario.signer if signed else None)
    files = _files(scenario, tmp_path, approval)
    _ingest(ledger, [path for name, path in files.items() if name != "approval"])
    before = _report(ledger, workspace)
    _ingest(ledger, [files["approval"]])  # the attack: after the fact
    report = _report(ledger, workspace)

    assert [f.code for f in report.findings] == [f.code for f in before.findings]
    (finding,) = [f for f in report.findings if f.code is Code.UNAPPROVED_HIGH_RISK_ACTION]
    shown = {(d.reason, d.against) for d in report.disregarded}
    (late,) = [d for d in report.disregarded if d.reason == "late"]
    assert late.seq in finding.seqs and late.against in finding.seqs
    assert late.claimed_at == utc(approval["time"])  # the sender's claim, beside the receipt
    assert late.received_at is not None and late.received_at > late.claimed_at
    if signed:
        assert shown == {("late", late.against)}
    else:
        assert shown == {("late", late.against), ("unsigned", None)}
        assert "carries no signature" in finding.explanation
    assert report.verdict.recreatable is False
    for name in ("md", "html"):  # shown to the reader, claimed and received times side by side
        page = FORMATS[name].render([report]).decode()
        assert "Set aside: late or unsigned" in page
        assert late.claimed_at in page and late.received_at in page


def test_a_signed_approval_received_before_the_action_counts(
    world: tuple[Ledger, Scenario, str], tmp_path: Path
) -> None:
    ledger, scenario, workspace = world
    files = _files(scenario, tmp_path, _approval(scenario, workspace, scenario.signer))
    # The approval reaches the ledger before the provider logs of the action.
    _ingest(ledger, [files["agent"], files["approval"]])
    _ingest(ledger, [path for name, path in files.items() if name not in ("agent", "approval")])
    report = _report(ledger, workspace)
    assert Code.UNAPPROVED_HIGH_RISK_ACTION not in {f.code for f in report.findings}
    assert report.disregarded == []
