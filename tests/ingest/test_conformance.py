"""Conformance over ../shared/realdata: every real record is appended or quarantined with a reason.

Counts are checked against an independent count of the records in each file
(the standard json module), so a record lost between framing and the ledger fails.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest import AUTO, IngestStore, Pipeline, Redactor
from ledger import Ledger
from tests.conftest import realdata

# Broken documents of the corpus: how many whole records open each before its error (read
# by eye). aws.execution.ec2-user-data.json lacks the comma after its first record.
WHOLE_BEFORE_ERROR = {"aws.execution.ec2-user-data.json": 1}


def _count_records(path: Path) -> int:
    """Records in a file, counted without vestige's framing (a broken document counts its
    whole records before the error, then one for the rest)."""
    text = path.read_bytes()
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        lines = [line for line in text.splitlines() if line.strip()]
        try:
            values = [json.loads(line) for line in lines]
        except json.JSONDecodeError:
            # A broken document: the whole records before the error, then one for the rest.
            return 1 + WHOLE_BEFORE_ERROR.get(path.name, 0)
        return sum(_units(v) for v in values)
    return _units(value)


def _units(value: Any) -> int:
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict) and isinstance(value.get("Records"), list):
        return len(value["Records"])
    return 1


def _pipeline(ledger: Ledger, tmp_path: Path) -> Pipeline:
    return Pipeline(ledger, Redactor(b"\x01" * 32), batch_size=200)


def _ingest(pipeline: Pipeline, source: str, files: list[Path]) -> dict[str, Any]:
    summary = pipeline.ingest_paths(source, files).to_json()
    expected = sum(_count_records(f) for f in files)
    assert summary["read"] == expected
    assert summary["read"] == summary["appended"] + summary["duplicates"] + summary["quarantined"]
    return summary


def _quarantine_reasons(pipeline: Pipeline) -> list[str]:
    return [row["reason"] for row in pipeline.store.quarantined(limit=100_000)]


CASES = [
    # (folder, glob, source, quarantined at most)
    ("stratus-red-team", "*.json", "cloudtrail", 0),
    # fal_01_003.json is a Falco test event without an auditID; and Falco's hand-edited
    # traces reuse two auditIDs for other content: conflicts, quarantined, not dropped.
    ("falco-k8s-audit", "*.json", "k8s-audit", 3),
    ("octokit-webhooks/payload-examples", "**/*.json", "github", 0),
    ("octokit-webhooks.net", "**/*.json", "github", 0),
]


@pytest.mark.parametrize(("folder", "pattern", "source", "most"), CASES)
def test_real_records_are_all_appended(
    make_ledger: Callable[..., Ledger], tmp_path: Path, folder: str, pattern: str, source: str,
    most: int,
) -> None:  # fmt: skip
    files = sorted(realdata(folder).glob(pattern))
    assert files
    pipeline = _pipeline(make_ledger(), tmp_path)
    summary = _ingest(pipeline, source, files)
    assert summary["quarantined"] <= most, _quarantine_reasons(pipeline)
    # Detection agrees with the named source on every one of them: all are duplicates now.
    again = _ingest(pipeline, AUTO, files)
    assert again["by_source"][source]["duplicates"] == summary["appended"] + summary["duplicates"]
    assert again["appended"] == 0


def test_cloudtrail_captures_with_a_broken_file(
    make_ledger: Callable[..., Ledger], tmp_path: Path
) -> None:
    files = sorted(realdata("cloudtrail2sightings").glob("*.json"))
    pipeline = _pipeline(make_ledger(), tmp_path)
    summary = _ingest(pipeline, "cloudtrail", files)
    assert summary["quarantined"] == 1  # aws.execution.ec2-user-data.json is not valid JSON
    (row,) = pipeline.store.quarantined()
    assert row["origin"].endswith("aws.execution.ec2-user-data.json")
    assert row["position"] == "Records[1]"  # its first record, before the error, was kept
    assert row["reason"].startswith("invalid JSON")


def test_jira_webhooks_and_gitlab_is_not_jira(
    make_ledger: Callable[..., Ledger], tmp_path: Path
) -> None:
    root = realdata("jira-to-matrix/test/fixtures/webhooks")
    jira = sorted(p for p in root.rglob("*.json") if "gitlab" not in p.parts)
    gitlab = sorted(root.glob("gitlab/**/*.json"))
    pipeline = _pipeline(make_ledger(), tmp_path)
    summary = _ingest(pipeline, "jira", jira)
    # issue/updated/commented.json is an edited copy of another fixture: the same issue
    # id and timestamp with other content, so it conflicts and is quarantined.
    assert (summary["appended"], summary["quarantined"]) == (summary["read"] - 1, 1)
    (conflict,) = _quarantine_reasons(pipeline)
    assert conflict.startswith("conflicts with ledger entry ")
    mixed = _ingest(pipeline, AUTO, gitlab)
    assert mixed["quarantined"] == mixed["read"]
    assert set(_quarantine_reasons(pipeline)) == {conflict, "format not recognised by any source"}


PANTHER = {
    "AWS.CloudTrail": "cloudtrail",
    "Amazon.EKS.Audit": "k8s-audit",
    "GCP.AuditLog": "gcp-audit",
    "GitHub.Audit": "github-audit",
    "GitHub.Webhook": "github",
    "Okta.SystemLog": "okta",
}


def test_panther_detection_test_logs(make_ledger: Callable[..., Ledger], tmp_path: Path) -> None:
    """Partly hand-written logs: each is appended or quarantined, none lost, no crash."""
    pipeline = _pipeline(make_ledger(), tmp_path)
    for path in sorted(realdata("panther-analysis").glob("*.tests.jsonl")):
        log_type = path.name.removesuffix(".tests.jsonl")
        logs = [orjson.loads(line)["log"] for line in path.read_bytes().splitlines() if line]
        unwrapped = tmp_path / f"{log_type}.jsonl"
        unwrapped.write_bytes(b"\n".join(orjson.dumps(log) for log in logs) + b"\n")
        summary = _ingest(pipeline, PANTHER.get(log_type, AUTO), [unwrapped])
        if log_type in PANTHER:
            # Many test logs are hand-written fragments (no auditID, no time): quarantined.
            assert summary["appended"] > 0, log_type
    for reason in _quarantine_reasons(pipeline):
        assert reason and reason != "?"


def test_everything_through_auto(make_ledger: Callable[..., Ledger], tmp_path: Path) -> None:
    """The whole corpus through `auto`: counts add up and the ledger verifies."""
    root = realdata(".")
    files = sorted(
        p for p in root.rglob("*.json*")
        if p.suffix in {".json", ".jsonl"} and "transparency-dev-merkle" not in p.parts
        and "sigstore-python" not in p.parts
    )  # fmt: skip
    ledger = make_ledger()
    pipeline = _pipeline(ledger, tmp_path)
    summary = _ingest(pipeline, AUTO, files)
    assert summary["appended"] > 800
    assert ledger.verify().size == summary["appended"]
    store = IngestStore(ledger.store)
    assert len(store.quarantined(limit=100_000)) <= summary["quarantined"]
