"""The hand-built event document equals pydantic's serialization, for every source's fixtures."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from ingest import SOURCES, Context
from ingest.framing import frames, input_files, open_input
from ingest.interface import InvalidRecord
from ingest.model import Event, document, is_event_document

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "ingest"


def _fixture_events() -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    for folder in sorted(p for p in ASSETS.iterdir() if p.is_dir()):
        for path in input_files([folder]):
            if path.name.endswith(".expected.json"):
                continue
            with open_input(path) as (stream, _):
                found += [(folder.name, f.value) for f in frames(stream) if f.value is not None]
    return found


def test_document_matches_pydantic_on_every_fixture() -> None:
    checked = set()
    headers = {"x-vestige-received-at": "2026-11-29T00:00:00Z"}
    for source_name, value in _fixture_events():
        assert isinstance(value, dict)
        source = SOURCES.get(source_name)
        if source is None:
            continue
        try:
            extracted = source.extract(value, Context(origin=source_name, headers=headers))
        except InvalidRecord:
            continue
        assert document(extracted) == extracted.model_dump(mode="json")
        checked.add(source_name)
    assert checked == set(SOURCES)


@pytest.mark.parametrize("source_name", sorted(SOURCES))
def test_a_stored_document_validates_as_an_event(source_name: str) -> None:
    events = [v for name, v in _fixture_events() if name == source_name]
    assert events, f"no fixtures for {source_name}"
    headers = {"x-vestige-received-at": "2026-11-29T00:00:00Z"}
    for value in events:
        assert isinstance(value, dict)
        try:
            extracted = SOURCES[source_name].extract(value, Context(headers=headers))
        except InvalidRecord:
            continue
        stored = {"schema": "vestige.event.v1", "observed_at": "2026-11-29T00:00:00.000000Z",
                  "raw_sha256": "0" * 64, "raw": value}  # fmt: skip
        doc = {**document(extracted), **stored}
        assert Event.model_validate(orjson.loads(orjson.dumps(doc))).source == source_name
        assert is_event_document(orjson.loads(orjson.dumps(doc)))


@pytest.mark.parametrize(
    "change",
    [{"schema": "other"}, {"occurred_at": "yesterday"}, {"occurred_at": None},
     {"keys": {"workspace_id": "ws-1"}}, {"keys": {"ticket": [1]}}, {"actor": {"id": 7}},
     {"target": ["x"]}, {"signature": "ok"}, {"attributes": []}, {"action": None}],
)  # fmt: skip
def test_entries_shaped_unlike_an_event_are_not_events(change: dict[str, object]) -> None:
    value = next(v for name, v in _fixture_events() if name == "agent")
    assert isinstance(value, dict)
    headers = {"x-vestige-received-at": "2026-11-29T00:00:00Z"}
    extracted = SOURCES["agent"].extract(value, Context(headers=headers))
    doc = {**document(extracted), "schema": "vestige.event.v1"}
    assert is_event_document(doc)
    assert not is_event_document({**doc, **change})
