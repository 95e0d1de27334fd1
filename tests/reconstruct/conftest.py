"""Reconstruction tests use the ledger's fixtures: real SQLite and real PostgreSQL stores."""

from tests.ledger.conftest import make_ledger, pg_schema, pg_server, store_url

__all__ = ["make_ledger", "pg_schema", "pg_server", "store_url"]
