"""The pipeline on real stores: idempotency, quarantine, redaction at rest, the catalogue."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import orjson

from ingest import AUTO, Event, IngestStore, Pipeline, Redactor
from ledger import Ledger, Record
from vestige.samples import cloudtrail_records

STS_TOKEN = "IQoJb3JpZ2luX2VjEKn//////////wEaCXVzLWVhc3QtMSJHMEUCIQD" + "k" * 80


def _write(path: Path, records: Sequence[object]) -> Path:
    path.write_bytes(orjson.dumps({"Records": records}))
    return path


def _pipeline(ledger: Ledger) -> Pipeline:
    return Pipeline(ledger, Redactor(b"\x05" * 32), batch_size=7)


def test_ingest_is_idempotent_and_counts_everything(
    make_ledger: Callable[..., Ledger], tmp_path: Path
) -> None:
    ledger = make_ledger()
    records: list[object] = list(cloudtrail_records(40))
    records.insert(5, {"eventVersion": "1.09", "eventSource": "s3.amazonaws.com"})  # no id
    records.insert(9, "not an object")
    dump = _write(tmp_path / "trail.json", records)
    first = _pipeline(ledger).ingest_paths("cloudtrail", [dump]).to_json()
    assert first == {
        "read": 42, "appended": 40, "duplicates": 0, "quarantined": 2,
        "by_source": {"cloudtrail": {"read": 42, "appended": 40, "duplicates": 0,
                                     "quarantined": 2}},
        "skipped": [],
    }  # fmt: skip
    second = _pipeline(ledger).ingest_paths(AUTO, [dump]).to_json()
    assert (second["appended"], second["duplicates"], second["quarantined"]) == (0, 40, 2)
    assert ledger.verify().size == 40
    store = IngestStore(ledger.store)
    rows = store.quarantined()
    assert len(rows) == 2  # the rerun did not quarantine them twice
    assert {row["position"] for row in rows} == {"line 1 Records[5]", "line 1 Records[9]"}


def test_stored_events_validate_and_secrets_are_gone(
    make_ledger: Callable[..., Ledger], tmp_path: Path
) -> None:
    ledger = make_ledger()
    record = next(cloudtrail_records(1))
    record["eventSource"], record["eventName"] = "sts.amazonaws.com", "AssumeRole"
    record["responseElements"] = {
        "credentials": {"accessKeyId": "ASIAQWERTYUIOPASDFGH", "sessionToken": STS_TOKEN,
                        "expiration": "Nov 20, 2026, 10:00:00 AM"},
        "assumedRoleUser": {"arn": "arn:aws:sts::123456789012:assumed-role/agent/ws-1"},
    }  # fmt: skip
    _pipeline(ledger).ingest_paths("cloudtrail", [_write(tmp_path / "t.json", [record])])
    with ledger.store.reader() as reader:
        canonical = reader.entry(0)
    assert canonical is not None
    assert STS_TOKEN.encode() not in canonical.canonical
    event = Event.model_validate(orjson.loads(canonical.canonical))
    assert "secret_exposed" in event.risk
    (secret,) = event.attributes["secrets"]
    assert secret["path"] == "$.raw.responseElements.credentials.sessionToken"
    # The digest is of the record as received, so the original can be matched to it.
    from hashlib import sha256

    from ledger import canonicalize

    assert event.raw_sha256 == sha256(canonicalize(record)).hexdigest()


def test_catalogue_finds_events_by_key_time_and_source(
    make_ledger: Callable[..., Ledger], tmp_path: Path
) -> None:
    ledger = make_ledger()
    records: list[object] = list(cloudtrail_records(120))  # workspaces of 50 records each
    _pipeline(ledger).ingest_paths("cloudtrail", [_write(tmp_path / "t.json", records)])
    store = IngestStore(ledger.store)
    everything = store.find_events(limit=None)
    assert len(everything) == 120
    times = [orjson.loads(c)["occurred_at"] for _, c in everything]
    assert times == sorted(times)

    session = "agent-SEC-1001-ws-00001"
    found = store.find_events(keys=[("session_id", session)], limit=None)
    assert len(found) == 50
    assert all(session in orjson.loads(c)["keys"]["session_id"] for _, c in found)
    assert store.find_events(keys=[("session_id", session), ("ticket", "SEC-1000")]) == []
    window = store.find_events(since=times[10], until=times[20], limit=None)
    assert [orjson.loads(c)["occurred_at"] for _, c in window] == times[10:20] or all(
        times[10] <= orjson.loads(c)["occurred_at"] < times[20] for _, c in window
    )
    assert store.find_events(source="github") == []
    assert len(store.find_events(limit=3)) == 3


def test_the_catalogue_reads_each_entry_once_and_can_be_rebuilt(
    make_ledger: Callable[..., Ledger], tmp_path: Path
) -> None:
    ledger = make_ledger()
    _pipeline(ledger).ingest_paths(
        "cloudtrail", [_write(tmp_path / "t.json", list(cloudtrail_records(30)))]
    )
    ledger.append([Record.of({"note": n}) for n in range(7)])  # not events: scanned, not indexed
    store = IngestStore(ledger.store)
    scanned: list[int] = []
    assert store.catch_up(scanned.append, batch=10) == 30
    assert scanned == [10, 20, 30]  # every full batch reported; 37 entries scanned in all
    assert store.catch_up() == 0  # the watermark keeps it from reading anything again

    # The catalogue is derived: dropped, it is rebuilt from the ledger alone.
    with ledger.store.transaction() as conn:
        for table in ("event_catalog_key", "event_catalog", "event_catalog_state"):
            conn.exec_driver_sql(f"DELETE FROM {table}")
    assert store.catch_up() == 30
    assert (
        len(store.find_events(keys=[("session_id", "agent-SEC-1000-ws-00000")], limit=None)) == 30
    )


def test_unreadable_and_corrupt_files_are_quarantined_and_the_run_goes_on(
    make_ledger: Callable[..., Ledger], tmp_path: Path
) -> None:
    import gzip

    ledger = make_ledger()
    good = _write(tmp_path / "good.json", list(cloudtrail_records(5)))
    broken = tmp_path / "broken.json.gz"
    broken.write_bytes(
        gzip.compress(orjson.dumps({"Records": list(cloudtrail_records(50, 9))}))[:900]
    )
    missing = tmp_path / "gone.json"
    summary = _pipeline(ledger).ingest_paths("cloudtrail", [broken, missing, good]).to_json()
    assert summary["appended"] >= 5
    assert summary["read"] == summary["appended"] + summary["quarantined"]
    reasons = {row["origin"]: row["reason"] for row in IngestStore(ledger.store).quarantined()}
    assert reasons[str(missing)] == "input unreadable: No such file or directory"
    assert reasons[str(broken)].startswith("truncated gzip")
    assert ledger.verify().size == summary["appended"]


def test_same_id_with_other_content_is_a_conflict_not_a_duplicate(
    make_ledger: Callable[..., Ledger], tmp_path: Path
) -> None:
    ledger = make_ledger()
    records = list(cloudtrail_records(10))
    _pipeline(ledger).ingest_paths("cloudtrail", [_write(tmp_path / "a.json", records)])
    replayed = [dict(r) for r in records[:3]]
    replayed[1]["eventName"] = "DeleteObject"  # same eventID, different content
    twice = [replayed[2], {**replayed[2], "awsRegion": "eu-west-1"}]  # a conflict in one batch
    summary = (
        _pipeline(ledger)
        .ingest_paths("cloudtrail", [_write(tmp_path / "b.json", replayed + twice)])
        .to_json()
    )
    assert (summary["appended"], summary["duplicates"], summary["quarantined"]) == (0, 3, 2)
    assert ledger.verify().size == 10
    reasons = sorted(row["reason"] for row in IngestStore(ledger.store).quarantined())
    assert len(reasons) == 2
    assert all(r.startswith("conflicts with ledger entry ") for r in reasons)
    assert any(repr(records[1]["eventID"]) in r for r in reasons)
