"""A SIGKILL in the middle of a large ingest: the rerun ends where an uninterrupted run ends."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from ledger import Ledger
from tests.ledger.test_concurrency import Probe, vestige
from vestige.samples import cloudtrail_records

RECORDS = 12_000
BATCH = 500
pytestmark = pytest.mark.slow


def _events(url: str) -> list[tuple[str, str, str]]:
    """(source, source_event_id, raw_sha256) of every entry, in ledger order."""
    probe = Probe(url)
    try:
        rows = probe.rows("SELECT canonical FROM ledger_entry ORDER BY seq")
    finally:
        probe.close()
    docs = [orjson.loads(bytes(row[0])) for row in rows]
    return [(d["source"], d["source_event_id"], d["raw_sha256"]) for d in docs]


def test_killed_ingest_reruns_to_the_uninterrupted_result(
    make_ledger: Callable[..., Ledger], store_url: str, tmp_path: Path
) -> None:
    dump = tmp_path / "trail.json"
    records = list(cloudtrail_records(RECORDS, seed=5))
    records[777]["eventTime"] = "not a time"  # one bad record: quarantined, not lost
    dump.write_bytes(orjson.dumps({"Records": records}, option=orjson.OPT_INDENT_2))

    # The reference: an uninterrupted run into its own SQLite store.
    reference_home = tmp_path / "reference"
    reference_db = str(tmp_path / "reference.db")
    subprocess.run(vestige(reference_home, reference_db, "init"), check=True, cwd=tmp_path)
    done = subprocess.run(
        vestige(reference_home, reference_db, "ingest", "cloudtrail", str(dump), "--json"),
        capture_output=True, cwd=tmp_path, check=True, timeout=600,
    )  # fmt: skip
    assert json.loads(done.stdout)["appended"] == RECORDS - 1

    ledger = make_ledger()
    home = tmp_path / "home"
    command = vestige(
        home, store_url, "ingest", "cloudtrail", str(dump), "--json", "--batch-size", str(BATCH)
    )
    probe = Probe(store_url)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while probe.count("SELECT count(*) FROM ledger_entry") < RECORDS // 3:
            assert proc.poll() is None, "the ingest ended before it could be killed"
            assert time.monotonic() < deadline, "too slow to reach a third of the file"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    committed = probe.count("SELECT count(*) FROM ledger_entry")
    probe.close()
    assert RECORDS // 3 <= committed < RECORDS - 1
    assert ledger.verify().size == committed  # consistent after the kill

    rerun = subprocess.run(command, capture_output=True, cwd=tmp_path, timeout=600, check=False)
    assert rerun.returncode == 0, rerun.stderr.decode()
    report = json.loads(rerun.stdout)
    assert report["read"] == RECORDS
    assert report["appended"] == RECORDS - 1 - committed
    assert report["duplicates"] == committed
    assert report["quarantined"] == 1

    assert ledger.verify().size == RECORDS - 1
    assert _events(store_url) == _events(reference_db)  # same events, same order, no duplicates
    again = subprocess.run(command, capture_output=True, cwd=tmp_path, timeout=600, check=True)
    assert json.loads(again.stdout)["appended"] == 0
