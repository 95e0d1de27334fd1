"""Ledgers on real SQLite and real PostgreSQL, one fresh store per test.

PostgreSQL tests run against ``VESTIGE_TEST_PG`` (default
postgresql://127.0.0.1:5432/test), each in a schema of its own. Outside CI
they skip with a message when no server answers; under CI=true they fail.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from ledger import Ledger, Store
from tests.conftest import IN_CI, PG_URL


def pg_available() -> str | None:
    """None if the server answers, else why not."""
    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]


@pytest.fixture(scope="session")
def pg_server() -> str:
    problem = pg_available()
    if problem is not None:
        message = (
            f"PostgreSQL at {PG_URL} is not reachable ({problem}); start a server and set "
            "VESTIGE_TEST_PG=postgresql://HOST:PORT/DB to run the PostgreSQL tests"
        )
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return PG_URL


@pytest.fixture
def pg_schema(pg_server: str) -> Iterator[str]:
    """A fresh schema; yields a store URL whose search_path points at it."""
    schema = f"vt_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in pg_server else "?"
    yield f"{pg_server}{separator}options=-csearch_path%3D{schema}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL on each backend: a SQLite file or a PostgreSQL schema."""
    if request.param == "sqlite":
        return str(tmp_path / "ledger.db")
    url: str = request.getfixturevalue("pg_schema")
    return url


@pytest.fixture
def make_ledger(store_url: str, tmp_path: Path) -> Callable[..., Ledger]:
    """Build an initialized ledger on the test's backend; home under tmp_path."""

    def make(origin: str = "test.vestige/log", home: Path | None = None) -> Ledger:
        store = Store(store_url)
        ledger = Ledger.init(store, home or tmp_path / "home", origin)
        return ledger

    return make
