"""Every source, on hostile input: extraction succeeds or raises InvalidRecord, never anything
else, and never changes its input. Random objects use the keys of the source's own fixtures,
so parsers get past their first checks; mutated fixtures swap one node for random JSON."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest import SOURCES, Context, InvalidRecord, Source
from ingest.framing import frames, input_files, open_input

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "ingest"

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
CONTEXTS = st.sampled_from([
    Context(),
    Context(headers={"x-vestige-received-at": "2026-11-29T10:00:00Z"}),
    Context(headers={"x-github-event": "push", "x-github-delivery": "d-1"}),
    Context(headers={"x-github-event": "pull_request", "x-vestige-received-at": "garbage"}),
    Context(headers={"x-atlassian-webhook-identifier": "1234"}),
])  # fmt: skip


@cache
def fixtures(source: str) -> tuple[dict[str, Any], ...]:
    found = []
    for path in input_files([ASSETS / source]):
        if not path.name.endswith(".expected.json"):
            with open_input(path) as (stream, _):
                found += [f.value for f in frames(stream) if f.value is not None]
    return tuple(found)


@cache
def keys_of(source: str) -> tuple[str, ...]:
    seen: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            seen.update(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for record in fixtures(source):
        walk(record)
    return tuple(sorted(seen))


@cache
def random_objects(source: str) -> st.SearchStrategy[dict[str, Any]]:
    keys = st.sampled_from(keys_of(source)) | st.text(max_size=12)
    return st.dictionaries(keys, JSON, max_size=8)


def extract_or_invalid(source: Source, record: Any, context: Context) -> None:
    before = copy.deepcopy(record)
    source.matches(record, context)
    try:
        source.extract(record, context)
    except InvalidRecord:
        pass
    assert record == before  # extraction never changes its input


SETTINGS = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_source_has_fixtures(name: str) -> None:
    assert fixtures(name), f"tests/assets/ingest/{name}/ has no records"


def _random_case(name: str) -> st.SearchStrategy[tuple[str, dict[str, Any], Context]]:
    return st.tuples(st.just(name), random_objects(name), CONTEXTS)


def _mutated_case(name: str) -> st.SearchStrategy[tuple[str, dict[str, Any], Context]]:
    return st.tuples(st.just(name), st.sampled_from(fixtures(name)).flatmap(_mutations), CONTEXTS)


def _mutations(record: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """The record with one node, at a random path, replaced by random JSON."""
    paths: list[tuple[str, ...]] = []

    def walk(node: dict[str, Any], path: tuple[str, ...]) -> None:
        for key, value in node.items():
            paths.append((*path, key))
            if isinstance(value, dict):
                walk(value, (*path, key))

    walk(record, ())

    def put(path: tuple[str, ...], value: Any) -> dict[str, Any]:
        copied: dict[str, Any] = json.loads(json.dumps(record))
        node = copied
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return copied

    return st.builds(put, st.sampled_from(paths), JSON)


SOURCE_NAMES = st.sampled_from(sorted(SOURCES))


@SETTINGS
@given(SOURCE_NAMES.flatmap(_random_case))
def test_random_objects_extract_or_are_invalid(case: tuple[str, dict[str, Any], Context]) -> None:
    name, record, context = case
    extract_or_invalid(SOURCES[name], record, context)


@SETTINGS
@given(SOURCE_NAMES.flatmap(_mutated_case))
def test_mutated_fixtures_extract_or_are_invalid(case: tuple[str, dict[str, Any], Context]) -> None:
    name, record, context = case
    extract_or_invalid(SOURCES[name], record, context)
