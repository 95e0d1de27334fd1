"""The CLI under hostile input, through the real `vestige` process: blank webhook secrets,
special files, escape sequences in what it prints, quarantine pages, file modes."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import orjson
import pytest

from ingest import IngestStore, Pipeline, Redactor
from ledger import Ledger, Store
from tests.test_cli import ok, one_line_error, vestige
from vestige.samples import cloudtrail_records

HOSTILE = "ws-\x1b[2J\x1b[31mOK\r\n\u202egnp.exe\x7f\x9b"


@pytest.mark.parametrize("content", [b"", b"  \n\t"])
def test_serve_refuses_a_blank_secret_file(tmp_path: Path, content: bytes) -> None:
    home = tmp_path / "home"
    ok(vestige(home, "init"))
    secret = tmp_path / "secret"
    secret.write_bytes(content)
    for option in ("--github-secret-file", "--jira-secret-file"):
        line = one_line_error(vestige(home, "serve", "--port", "0", option, str(secret)))
        assert "is empty; refusing to start" in line
    unreadable = one_line_error(
        vestige(home, "serve", "--port", "0", "--github-secret-file", str(tmp_path / "nope"))
    )
    assert "cannot read" in unreadable


def test_ingest_refuses_a_fifo_and_a_device_and_reads_the_rest(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok(vestige(home, "init"))
    fifo = tmp_path / "events.jsonl"
    os.mkfifo(fifo)  # nobody writes: reading it would block forever
    trail = tmp_path / "trail.json"
    trail.write_bytes(orjson.dumps({"Records": [*cloudtrail_records(4)]}))
    run = vestige(home, "ingest", "cloudtrail", str(fifo), "/dev/zero", str(trail), "--json")
    assert run.code == 2, run.err
    assert run.err.splitlines() == [
        f"error: {fifo}: not a regular file: a FIFO",
        "error: /dev/zero: not a regular file: a character device",
    ]
    summary = json.loads(run.out)
    assert (summary["read"], summary["appended"]) == (4, 4)
    assert summary["skipped"] == [
        {"path": str(fifo), "reason": "not a regular file: a FIFO"},
        {"path": "/dev/zero", "reason": "not a regular file: a character device"},
    ]
    text = vestige(home, "ingest", "cloudtrail", str(tmp_path), str(trail))
    assert text.code == 0, text.err  # in a walk a FIFO is a skip, not an error
    assert f"  skipped\t{fifo}\tnot a regular file: a FIFO" in text.out.splitlines()


def _hostile_quarantine(home: Path, count: int) -> None:
    ledger = Ledger(Store(str(home / "ledger.db")), home)
    pipeline = Pipeline(ledger, Redactor(b"\x05" * 32))
    for n in range(count):
        reason = f"invalid JSON: line 1\n  column {n}\x1b[2K"
        pipeline.quarantine_only("agent", HOSTILE, f"item {n}", reason, b"{" + bytes([n]))


def test_text_output_escapes_control_characters(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok(vestige(home, "init"))
    created = {
        "specversion": "1.0", "id": "evt-1", "source": "urn:example:orchestrator",
        "type": "dev.vestige.workspace.created", "time": "2026-11-20T09:00:00Z",
        "data": {"workspace_id": HOSTILE, "created_by": {"kind": "service", "id": "o"},
                 "agent": {"kind": "agent", "id": "spiffe://corp.example/agent"},
                 "runtime": "k8s"},
    }  # fmt: skip
    events = tmp_path / "events.jsonl"
    events.write_bytes(orjson.dumps(created) + b"\n")
    ok(vestige(home, "ingest", "agent", str(events)))
    ok(vestige(home, "checkpoint"))
    _hostile_quarantine(home, 1)
    escaped = "ws-\\x1b[2J\\x1b[31mOK\\r\\n\\u202egnp.exe\\x7f\\x9b"
    for args in (("workspaces",), ("gaps",), ("quarantine", "list"), ("events",)):
        run = vestige(home, *args)
        assert run.code in (0, 1), run.err
        shown = run.out.splitlines()
        assert len(shown) >= 1 and escaped in run.out, (args, run.out)
        for char in "\x1b\r\u202e\x7f\x9b":
            assert char not in run.out, (args, char)
    (row,) = vestige(home, "quarantine", "list").out.splitlines()
    assert row.endswith("invalid JSON: line 1\\n  column 0\\x1b[2K")  # one line
    # JSON stays JSON: the exact string, escaped by the encoder.
    (listed,) = ok(vestige(home, "quarantine", "list", "--json")).json()["quarantined"]
    assert listed["origin"] == HOSTILE


def test_quarantine_list_pages_and_says_what_is_left(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok(vestige(home, "init"))
    _hostile_quarantine(home, 5)
    ids = [row["id"] for row in IngestStore(Store(str(home / "ledger.db"))).quarantined()]
    first = ok(vestige(home, "quarantine", "list", "--limit", "2")).out.splitlines()
    assert len(first) == 3
    assert first[-1] == f"… 3 more; use --after {ids[1]}"
    seen, after = [], None
    while True:
        args = ["quarantine", "list", "--limit", "2", "--json"]
        page = ok(vestige(home, *args, *(["--after", str(after)] if after else []))).json()
        seen += [row["id"] for row in page["quarantined"]]
        assert page["more"] == len(ids) - len(seen)
        if not page["more"]:
            assert page["next"] is None
            break
        after = page["next"]
    assert seen == ids


def test_home_and_files_are_owner_only(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok(vestige(home, "init", umask=0o022))
    trail = tmp_path / "trail.json"
    trail.write_bytes(orjson.dumps({"Records": [*cloudtrail_records(3)]}))
    ok(vestige(home, "ingest", "cloudtrail", str(trail), umask=0o022))
    ok(vestige(home, "collectors", "add", "ci", umask=0o022))
    ok(vestige(home, "checkpoint", umask=0o022))
    # SQLite removes -wal and -shm when the last connection closes; while one is open
    # they exist, created with the database file's mode whatever the umask.
    old = os.umask(0o022)
    try:
        reader = sqlite3.connect(home / "ledger.db")
        reader.execute("SELECT count(*) FROM sqlite_master").fetchone()
        wal_modes = {
            name: stat.S_IMODE((home / f"ledger.db{name}").stat().st_mode)
            for name in ("-wal", "-shm")
        }
        reader.close()
    finally:
        os.umask(old)
    assert wal_modes == {"-wal": 0o600, "-shm": 0o600}
    witness = home / "witness"
    modes = {
        path.relative_to(tmp_path).as_posix(): stat.S_IMODE(path.stat().st_mode)
        for path in [home, witness, *home.glob("ledger.db*"), *witness.glob("*.checkpoint"),
                     home / "redaction.salt", home / "collectors.json"]
    }  # fmt: skip
    assert "home/ledger.db" in modes
    assert any(name.endswith(".checkpoint") for name in modes)
    assert modes == {name: 0o700 if name in ("home", "home/witness") else 0o600 for name in modes}


def test_init_makes_an_existing_open_home_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    run = ok(vestige(home, "init"))
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert "made" in run.err and "private" in run.err
