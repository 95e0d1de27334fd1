"""The scenario generator's planted gaps, ingested for real, are exactly what reconstruction finds.

Every record goes through the real pipeline (``auto`` detection, normalization,
signature checks against the trusted signer) into a real ledger; then every
workspace is reconstructed, proved, verified offline, and its findings compared
with the ground truth: each planted gap found, nothing on a clean workspace.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ingest import IngestStore, Pipeline, Redactor
from ledger import Ledger
from reconstruct import (
    Catalog,
    LinkedEvent,
    assess_workspace,
    build_report,
    default_policy,
    report_bytes,
    unattributed,
    verify_report,
)
from vestige.scenario import PLANTABLE, default_plan, generate, write

WORKSPACES = 24  # enough for default_plan to plant every code at least once


@pytest.fixture(params=[3, 11], ids=lambda seed: f"seed{seed}")
def world(
    make_ledger: Callable[..., Ledger], tmp_path: Path, request: pytest.FixtureRequest
) -> tuple[Ledger, dict[str, frozenset[str]]]:
    scenario = generate(WORKSPACES, seed=request.param, gaps=default_plan(WORKSPACES))
    ledger = make_ledger()
    verifier = scenario.signer.verifier
    IngestStore(ledger.store).add_trust("ed25519", verifier.encode(), key_id=verifier.key_id.hex())
    pipeline = Pipeline(ledger, Redactor(b"\x05" * 32))
    for path in write(scenario, tmp_path / "in").values():
        assert pipeline.ingest_paths("auto", [path]).total.quarantined == 0
    return ledger, scenario.truth


def test_every_planted_gap_is_found_and_clean_workspaces_have_none(
    world: tuple[Ledger, dict[str, frozenset[str]]],
) -> None:
    ledger, truth = world
    catalog, policy = Catalog.open(ledger.store), default_policy()
    keys = ledger.keys.verifiers()
    planted = set().union(*truth.values())
    assert planted >= PLANTABLE - {"UNATTRIBUTED_ACTION"}

    attributed: set[int] = set()
    for workspace, expected in sorted(truth.items()):
        if not workspace:
            continue  # the organisation-wide finding, checked below
        report = build_report(workspace, catalog, ledger, policy, ledger.keys.signer())
        found = {f.code.value for f in report.findings}
        assert found == expected, workspace
        assert report.verdict.recreatable is (not expected - {"LIFECYCLE_INCOMPLETE",
                                                               "COLLECTOR_SILENCE"})  # fmt: skip
        assert verify_report(report_bytes(report), keys) == report
        # The quick listing (no proofs) agrees with the proved report.
        quick = assess_workspace(workspace, catalog, policy)
        assert quick.findings == report.findings and quick.verdict == report.verdict
        attributed |= {row.seq for row in report.timeline}
        # Linking is precise: no other workspace's lifecycle events or S3 objects come along.
        others = [r for r in report.timeline if workspace not in (r.target or workspace)]
        assert not [r for r in others if r.source == "agent" or "ws-artifacts" in (r.target or "")]

    events = (LinkedEvent(seq, doc) for seq, doc in catalog.agent_events())
    orphans = unattributed(events, attributed, policy)
    assert bool(orphans) is ("UNATTRIBUTED_ACTION" in truth.get("", frozenset()))
    assert all("rogue" in f.explanation for f in orphans)
