"""Several writer processes on one ledger, and a writer killed mid-append; both backends.

Every writer is a real ``python -m vestige append`` process, so the write lock
(SQLite ``BEGIN IMMEDIATE``, PostgreSQL ``LOCK TABLE``), the witness file lock
and the idempotent rerun are exercised across OS processes.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from ledger import Ledger, Store

pytestmark = pytest.mark.slow

WRITERS = 4
PER_WRITER = 5_000
WRITER_BATCH = 250
CRASH_LINES = 30_000
CRASH_BATCH = 500


def line(writer: int, n: int) -> bytes:
    """One JSON line: a Kubernetes-audit-like event, distinct per (writer, n)."""
    return orjson.dumps(
        {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": "Metadata",
            "auditID": f"{writer:02d}-{n:06d}",
            "stage": "ResponseComplete",
            "verb": ("get", "list", "create", "patch", "delete")[n % 5],
            "user": {"username": f"system:serviceaccount:agents:runner-{writer}"},
            "objectRef": {"resource": "pods", "namespace": "agents", "name": f"job-{n % 97}"},
            "responseStatus": {"code": 200 if n % 11 else 403},
            "writer": writer,
            "n": n,
        }
    )


def vestige(home: Path, url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "vestige", "--home", str(home), "--db", url, *args]


class Probe:
    """A direct, autocommitting connection for watching and checking the store."""

    def __init__(self, url: str) -> None:
        self._pg: psycopg.Connection[tuple[Any, ...]] | None = None
        self._lite: sqlite3.Connection | None = None
        if Store(url).is_postgres:
            self._pg = psycopg.connect(url, autocommit=True)
        else:
            self._lite = sqlite3.connect(url, isolation_level=None, timeout=30)

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        if self._pg is not None:
            return self._pg.execute(sql.replace("?", "%s"), tuple(params)).fetchall()
        assert self._lite is not None
        return self._lite.execute(sql, tuple(params)).fetchall()

    def count(self, sql: str) -> int:
        ((value,),) = self.rows(sql)
        return int(value)

    def close(self) -> None:
        if self._pg is not None:
            self._pg.close()
        if self._lite is not None:
            self._lite.close()


def run_writer(home: Path, url: str, cwd: Path, payload: bytes) -> dict[str, Any]:
    proc = subprocess.Popen(
        vestige(home, url, "append", "-", "--json", "--batch-size", str(WRITER_BATCH)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
    )
    try:
        out, err = proc.communicate(payload, timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()
    document = json.loads(out)
    assert isinstance(document, dict)
    return document


def test_four_processes_append_into_one_chain(
    make_ledger: Callable[..., Ledger], store_url: str, tmp_path: Path
) -> None:
    ledger = make_ledger()
    home = tmp_path / "home"
    payloads = [b"".join(line(w, n) + b"\n" for n in range(PER_WRITER)) for w in range(WRITERS)]
    started = time.monotonic()
    # Each writer reads its lines from a pipe fed by its own thread, so all four
    # start appending together once their imports are done.
    with ThreadPoolExecutor(WRITERS) as pool:
        reports = list(pool.map(lambda p: run_writer(home, store_url, tmp_path, p), payloads))
    elapsed = time.monotonic() - started

    for report in reports:
        assert (report["appended"], report["duplicates"], report["rejected"]) == (
            PER_WRITER,
            0,
            [],
        )
    total = WRITERS * PER_WRITER
    assert max(report["size"] for report in reports) == total

    result = ledger.verify()
    assert result.size == total
    # One checkpoint per batch: every batch was its own atomic append.
    assert result.checkpoints == WRITERS * PER_WRITER // WRITER_BATCH

    probe = Probe(store_url)
    try:
        rows = probe.rows("SELECT seq, canonical FROM ledger_entry ORDER BY seq")
        distinct_keys = probe.count("SELECT count(DISTINCT idem_key) FROM ledger_entry")
    finally:
        probe.close()
    assert [seq for seq, _ in rows] == list(range(total))
    assert distinct_keys == total
    events = [orjson.loads(canonical) for _, canonical in rows]
    by_writer: dict[int, list[int]] = {w: [] for w in range(WRITERS)}
    for event in events:
        by_writer[event["writer"]].append(event["n"])
    for writer, numbers in by_writer.items():
        # All present, once each, and in the writer's own order (a writer's
        # batches are appended in sequence).
        assert numbers == list(range(PER_WRITER)), f"writer {writer}"
    # The writers really ran at the same time: their batches interleave (one
    # writer after another would switch only WRITERS - 1 times).
    switches = sum(
        1 for a, b in zip(events, events[1:], strict=False) if a["writer"] != b["writer"]
    )
    assert switches >= WRITERS, f"batches did not interleave ({switches} switches)"
    assert elapsed < 60


def test_killed_append_leaves_a_valid_prefix_and_resumes(
    make_ledger: Callable[..., Ledger], store_url: str, tmp_path: Path
) -> None:
    ledger = make_ledger()
    home = tmp_path / "home"
    source = tmp_path / "events.jsonl"
    source.write_bytes(b"".join(line(n % WRITERS, n) + b"\n" for n in range(CRASH_LINES)))
    command = vestige(
        home, store_url, "append", str(source), "--json", "--batch-size", str(CRASH_BATCH)
    )

    probe = Probe(store_url)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while probe.count("SELECT count(*) FROM ledger_entry") == 0:
            assert proc.poll() is None, "the append ended before anything was seen committed"
            assert time.monotonic() < deadline, "no batch was committed within 60 s"
            time.sleep(0.005)
        assert proc.poll() is None, "the append finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    try:
        committed = probe.count("SELECT count(*) FROM ledger_entry")
        assert 0 < committed < CRASH_LINES
        assert committed % CRASH_BATCH == 0  # whole batches only: each one is atomic
        partial = ledger.verify()
        assert (partial.size, partial.checkpoints) == (committed, committed // CRASH_BATCH)

        rerun = subprocess.run(command, capture_output=True, cwd=tmp_path, timeout=120, check=False)
        assert rerun.returncode == 0, rerun.stderr.decode()
        report = json.loads(rerun.stdout)
        assert report["appended"] == CRASH_LINES - committed
        assert report["duplicates"] == committed
        assert (report["size"], report["rejected"]) == (CRASH_LINES, [])

        assert probe.count("SELECT count(*) FROM ledger_entry") == CRASH_LINES
        assert probe.count("SELECT count(DISTINCT idem_key) FROM ledger_entry") == CRASH_LINES
        assert probe.count("SELECT count(DISTINCT canonical) FROM ledger_entry") == CRASH_LINES
        # The rerun signs no extra checkpoint for the batches it found already stored.
        assert probe.count("SELECT count(*) FROM ledger_checkpoint") == CRASH_LINES // CRASH_BATCH
        rows = probe.rows("SELECT seq, canonical FROM ledger_entry ORDER BY seq")
    finally:
        probe.close()
    # The file's order is kept across the crash and the rerun.
    assert [orjson.loads(c)["n"] for _, c in rows] == list(range(CRASH_LINES))
    assert [seq for seq, _ in rows] == list(range(CRASH_LINES))
    final = ledger.verify()
    assert (final.size, final.checkpoints) == (CRASH_LINES, CRASH_LINES // CRASH_BATCH)
