"""Processes that start on a fresh store at the same moment all create it without error."""

from __future__ import annotations

import subprocess
import sys

import psycopg

from ledger import Store
from tests.conftest import ROOT


def test_first_use_by_several_processes_at_once(store_url: str) -> None:
    code = (
        "from ledger import Store; from ingest import IngestStore; "
        f"s = Store({store_url!r}); s.create(); IngestStore(s).create()"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, cwd=ROOT)
        for _ in range(5)
    ]
    errors = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * 5, errors
    store = Store(store_url)
    names = {"ledger_entry", "ingest_quarantine", "event_catalog", "ingest_trust"}
    if store.is_postgres:
        with psycopg.connect(store_url) as conn:
            tables = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            found = {r[0] for r in conn.execute(tables)}
            triggers = conn.execute(
                "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema()"
            ).fetchone()
        assert triggers is not None and triggers[0] == 6  # append-only guards, created once
    else:
        import sqlite3

        with sqlite3.connect(store_url) as conn:
            found = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert names <= found
