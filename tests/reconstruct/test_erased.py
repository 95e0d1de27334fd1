"""Reconstruction of a workspace one of whose entries was erased: shown, proved, verified."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Callable

import orjson
import pandas as pd
import pytest

from ledger import Ledger, Tombstone
from reconstruct import (
    FORMATS,
    Catalog,
    Code,
    Report,
    ReportInvalid,
    assess_workspace,
    build_report,
    default_policy,
    report_bytes,
    sign_report,
    verify_report,
)
from tests.ledger.test_tamper import Db
from tests.reconstruct.events import WS, clean, heartbeat
from tests.reconstruct.test_report import _extra, _fill

POLICY = default_policy()
REASON = "customer data in a ticket comment"


@pytest.fixture
def ledger(make_ledger: Callable[..., Ledger]) -> Ledger:
    return make_ledger()


def report_of(ledger: Ledger) -> Report:
    return build_report(WS, Catalog.open(ledger.store), ledger, POLICY, ledger.keys.signer())


def test_an_erased_entry_stays_in_the_timeline_and_the_report_verifies(ledger: Ledger) -> None:
    seq = _fill(ledger, clean(_extra()) + heartbeat())
    keys = ledger.keys.verifiers()
    before = report_of(ledger)  # catalogues every entry, then reports
    assert verify_report(report_bytes(before), keys) == before
    ticket = seq[20]  # the Jira event linked through the task record's ticket
    assert ticket in {row.seq for row in before.timeline}

    erasure = ledger.erase(ticket, REASON, "dpo@example.com")
    after = report_of(ledger)
    rows = {row.seq: row for row in after.timeline}
    row = rows[ticket]  # shown, never dropped
    assert row.erased is not None and row.time is None and row.action == "erased"
    assert (row.erased.erasure_seq, row.erased.reason, row.erased.requested_by) == (
        erasure.erasure_seq,
        REASON,
        "dpo@example.com",
    )
    assert row.erased.removed_sha256 == erasure.removed_sha256
    assert set(rows) == {r.seq for r in before.timeline}
    # An erasure under a valid signed entry is not a broken entry.
    assert all(f.code is not Code.LEDGER_INTEGRITY for f in after.findings)
    assert after.findings == before.findings and after.verdict == before.verdict
    cited = {e.seq: e for e in after.evidence.entries}
    assert Tombstone.holds(base64.b64decode(cited[ticket].canonical))
    assert erasure.erasure_seq in cited  # the signed erasure travels with the report
    assert verify_report(report_bytes(after), keys) == after
    # The quick look shows it too.
    quick = assess_workspace(WS, Catalog.open(ledger.store), POLICY)
    assert [r.seq for r in quick.timeline if r.erased] == [ticket]


def test_a_changed_erasure_reason_fails_offline(ledger: Ledger) -> None:
    seq = _fill(ledger, clean(_extra()) + heartbeat())
    report_of(ledger)
    ledger.erase(seq[20], REASON, "dpo@example.com")
    document = orjson.loads(report_bytes(report_of(ledger)))
    for row in document["timeline"]:
        if row["erased"]:
            row["erased"]["reason"] = "routine clean-up"
    edited = sign_report(Report.model_validate(document), ledger.keys.signer())
    with pytest.raises(ReportInvalid, match="timeline does not follow"):
        verify_report(report_bytes(edited), ledger.keys.verifiers())


def test_a_tombstone_without_erasure_is_a_ledger_integrity_finding(
    ledger: Ledger, store_url: str
) -> None:
    seq = _fill(ledger, clean(_extra()) + heartbeat())
    report_of(ledger)
    ticket = seq[20]
    with ledger.store.reader() as r:
        entry = r.entry(ticket)
    assert entry is not None
    digest = hashlib.sha256(entry.canonical).hexdigest()
    db = Db(store_url)
    try:  # through the guards: the one UPDATE they allow, but no erasure entry
        db.rows(
            "UPDATE ledger_entry SET canonical = ? WHERE seq = ?",
            [Tombstone(ticket, 999, digest).encode(), ticket],
        )
    finally:
        db.close()
    report = report_of(ledger)
    integrity = [f for f in report.findings if f.code is Code.LEDGER_INTEGRITY]
    assert [f.seqs for f in integrity] == [[ticket]]
    assert not any(row.erased for row in report.timeline)
    assert verify_report(report_bytes(report), ledger.keys.verifiers()) == report


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_every_format_shows_the_erased_entry(ledger: Ledger) -> None:
    seq = _fill(ledger, clean(_extra()) + heartbeat())
    report_of(ledger)
    erasure = ledger.erase(seq[20], REASON, "dpo@example.com")
    report = report_of(ledger)
    frame = pd.read_parquet(io.BytesIO(FORMATS["parquet"].render([report])))
    by_seq = {row["seq"]: row for row in frame.to_dict("records")}
    assert by_seq[seq[20]]["erased_at"] == report.timeline[-1].erased.erased_at  # type: ignore[union-attr]
    assert pd.isna(by_seq[seq[0]]["erased_at"])
    for name, fmt in FORMATS.items():
        if name == "parquet":
            continue  # binary: read back above
        text = fmt.render([report]).decode()
        assert REASON in text and f"ledger entry {erasure.erasure_seq}" in text, name
    lines = [json.loads(line) for line in FORMATS["timesketch"].render([report]).splitlines()]
    [erased] = [line for line in lines if line["seq"] == seq[20]]
    assert (erased["action"], erased["timestamp_desc"]) == ("erased", "Erased Time")
    assert erased["datetime"].startswith(report.timeline[-1].erased.erased_at[:19])  # type: ignore[union-attr]
