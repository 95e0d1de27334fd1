"""The committed JSON Schemas are exactly what the models generate."""

from __future__ import annotations

import pytest

from vestige.schemas import SCHEMA_DIR, generate, render


@pytest.mark.parametrize("name", sorted(generate()))
def test_committed_schema_matches_the_models(name: str) -> None:
    committed = (SCHEMA_DIR / name).read_text()
    assert committed == render(generate()[name]), (
        f"schemas/{name} drifted from the models: run `python -m vestige.schemas` and commit"
    )


def test_every_schema_is_declared() -> None:
    assert set(generate()) == {
        "event.v1.json",
        "report.v1.json",
        "task-record.v1.json",
        "lifecycle-event.v1.json",
    }
    for name, schema in generate().items():
        assert schema["$id"].endswith(name)
