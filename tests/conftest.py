"""Shared test fixtures: locations of real public records and the PostgreSQL switch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REALDATA = Path(os.environ.get("VESTIGE_REALDATA", ROOT.parent / "shared" / "realdata"))
PG_URL = os.environ.get("VESTIGE_TEST_PG", "postgresql://127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


def realdata(relative: str) -> Path:
    """A folder of ../shared/realdata; skips the test when the corpus is absent."""
    path = REALDATA / relative
    if not path.exists():
        pytest.skip(f"real-data corpus not found at {path} (set VESTIGE_REALDATA)")
    return path
