"""Known answers: each ``NAME.json`` fixture with a ``NAME.expected.json`` beside it must
extract to exactly that document (the full normalized output, read through by hand)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest import SOURCES, Context

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "ingest"
CASES = sorted(ASSETS.glob("*/*.expected.json"))


@pytest.mark.parametrize("expected_path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_known_answer(expected_path: Path) -> None:
    source = SOURCES[expected_path.parent.name]
    record = json.loads(
        expected_path.with_name(expected_path.name.replace(".expected", "")).read_text()
    )
    assert source.matches(record, Context())
    expected = json.loads(expected_path.read_text())
    assert source.extract(record, Context()).model_dump(mode="json") == expected


def test_there_are_known_answers_for_the_cloud_sources() -> None:
    assert {p.parent.name for p in CASES} >= {"cloudtrail", "gcp-audit", "k8s-audit", "okta"}
