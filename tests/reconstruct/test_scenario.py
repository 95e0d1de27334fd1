"""The scenario generator: real records through the real pipeline, reproducible, truthful plans."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest import SOURCES, Context, IngestStore, Pipeline, Redactor, detect
from ledger import Ledger, Store
from vestige.scenario import PLANTABLE, Scenario, default_plan, generate, write

SIGNATURE_GAPS = {"TASK_RECORD_UNSIGNED": "unsigned", "TASK_RECORD_BAD_SIGNATURE": "failed"}


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return generate(12, gaps=default_plan(12))


@pytest.fixture(scope="module")
def ingested(
    scenario: Scenario, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Ledger, dict[str, Any]]:
    """The scenario written to files and ingested into a real SQLite ledger that trusts its
    signer; with the ingest summary."""
    root = tmp_path_factory.mktemp("scenario")
    paths = write(scenario, root / "input")
    ledger = Ledger.init(Store(str(root / "ledger.db")), root / "home", "test.vestige/log")
    verifier = scenario.signer.verifier
    IngestStore(ledger.store).add_trust("ed25519", verifier.encode(), key_id=verifier.key_id.hex())
    summary = Pipeline(ledger, Redactor(b"\x05" * 32)).ingest_paths("auto", list(paths.values()))
    return ledger, summary.to_json()


def _events(ledger: Ledger, workspace: str) -> list[dict[str, Any]]:
    found = IngestStore(ledger.store).find_events(keys=[("workspace_id", workspace)], limit=None)
    return [orjson.loads(canonical) for _, canonical in found]


def test_every_record_is_ingested_as_its_own_source(
    scenario: Scenario, ingested: tuple[Ledger, dict[str, Any]]
) -> None:
    ledger, summary = ingested
    total = sum(len(records) for records in scenario.records.values())
    assert summary["quarantined"] == 0
    assert summary["appended"] == total == ledger.verify().size
    # Detected by content (`auto`), each file's records landed under their own source.
    assert {source: counts["appended"] for source, counts in summary["by_source"].items()} == {
        source: len(records) for source, records in scenario.records.items()
    }
    assert IngestStore(ledger.store).quarantined() == []


def test_each_record_is_recognised_as_the_source_it_is_filed_under(scenario: Scenario) -> None:
    for source, records in scenario.records.items():
        assert records, source
        for record in records:
            found = detect(record, Context())
            assert found is not None and found.name == source


def test_task_records_verify_unless_a_signature_gap_was_planted(
    scenario: Scenario, ingested: tuple[Ledger, dict[str, Any]]
) -> None:
    ledger, _ = ingested
    seen: set[str] = set()
    for workspace, codes in scenario.truth.items():
        if not workspace:
            continue
        tasks = [e for e in _events(ledger, workspace) if e["action"] == "task.recorded"]
        if "NO_TASK_RECORD" in codes:
            assert tasks == []
            continue
        (task,) = tasks
        expected = next((SIGNATURE_GAPS[c] for c in codes if c in SIGNATURE_GAPS), "ok")
        assert task["signature"]["status"] == expected, workspace
        seen.add(expected)
    assert seen == {"ok", "unsigned", "failed"}


def test_clean_workspaces_are_complete_and_planted_ones_lack_what_was_removed(
    scenario: Scenario, ingested: tuple[Ledger, dict[str, Any]]
) -> None:
    ledger, _ = ingested
    for workspace, codes in scenario.truth.items():
        if not workspace:
            continue
        actions = {e["action"] for e in _events(ledger, workspace)}
        assert {"workspace.created", "credential.issued", "credential.revoked"} <= actions
        assert ("workspace.destroyed" in actions) != ("LIFECYCLE_INCOMPLETE" in codes)
        assert ("sts:AssumeRole" in actions) != ("COLLECTOR_SILENCE" in codes)
        if "UNAPPROVED_HIGH_RISK_ACTION" in codes:
            assert "approval.granted" not in actions


def test_the_same_seed_gives_the_same_scenario_and_another_seed_another() -> None:
    plan = default_plan(12)
    first, again, other = generate(12, gaps=plan), generate(12, gaps=plan), generate(12, seed=2)
    assert orjson.dumps(first.records) == orjson.dumps(again.records)
    assert first.truth == again.truth
    assert first.signer.verifier.encode() == again.signer.verifier.encode()
    assert (first.start, first.end) == (again.start, again.end)
    assert set(first.truth).isdisjoint(other.truth)
    assert first.signer.verifier.encode() != other.signer.verifier.encode()


def test_truth_lists_every_workspace_with_the_planted_codes() -> None:
    plan = {0: ["NO_TICKET"], 3: ["SCOPE_EXCEEDED", "UNATTRIBUTED_ACTION"]}
    scenario = generate(5, seed=3, gaps=plan)
    workspaces = [w for w in scenario.truth if w]
    assert len(workspaces) == 5 and all(w.startswith("ws-") for w in workspaces)
    planted = [{"NO_TICKET"}, set(), set(), {"SCOPE_EXCEEDED"}, set()]
    assert [scenario.truth[w] for w in workspaces] == planted
    assert scenario.truth[""] == {"UNATTRIBUTED_ACTION"}
    assert "" not in generate(5, seed=3).truth


def test_records_lie_in_the_span_and_in_time_order() -> None:
    scenario = generate(6, seed=4, start=datetime.fromisoformat("2026-03-01T00:00:00+00:00"))
    assert scenario.start == datetime.fromisoformat("2026-03-01T00:00:00+00:00")
    for source, records in scenario.records.items():
        times = [_time(source, record) for record in records]
        assert times == sorted(times), source
        assert scenario.start <= times[0] and times[-1] <= scenario.end, source


def _time(source: str, record: dict[str, Any]) -> datetime:
    """When a record happened, as its source's parser reads it."""
    extracted = SOURCES[source].extract(record, Context())
    return datetime.fromisoformat(extracted.occurred_at.replace("Z", "+00:00"))


@pytest.mark.parametrize("workspaces", [8, 12, 23, 100])
def test_default_plan_plants_every_code_and_leaves_most_workspaces_clean(workspaces: int) -> None:
    plan = default_plan(workspaces)
    assert {code for codes in plan.values() for code in codes} == PLANTABLE
    assert len(plan) <= workspaces // 3 + 1
    if workspaces >= 23:
        assert max(len(codes) for codes in plan.values()) <= 2
    generate(workspaces, gaps=plan)  # every combination it chose can be planted


def test_impossible_plans_are_refused() -> None:
    with pytest.raises(ValueError, match="NO_TASK_RECORD"):
        generate(3, gaps={1: ["NO_TASK_RECORD", "NO_TICKET"]})
    with pytest.raises(ValueError, match="not plantable: LEDGER_INTEGRITY"):
        generate(3, gaps={1: ["LEDGER_INTEGRITY"]})
    with pytest.raises(ValueError, match="outside"):
        generate(3, gaps={3: ["NO_TICKET"]})
    with pytest.raises(ValueError, match="timezone"):
        generate(3, start=datetime(2026, 11, 2, 8, 0))


def test_write_gives_one_file_per_source(scenario: Scenario, tmp_path: Path) -> None:
    paths = write(scenario, tmp_path / "out")
    assert set(paths) == set(scenario.records)
    trail = orjson.loads(paths["cloudtrail"].read_bytes())
    assert trail == {"Records": scenario.records["cloudtrail"]}
    lines = paths["vault"].read_bytes().splitlines()
    assert [orjson.loads(line) for line in lines] == scenario.records["vault"]
