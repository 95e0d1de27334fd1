"""Hostile input through the whole pipeline: every record is counted, none crashes the run."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest import AUTO, Pipeline, Redactor
from ledger import Ledger, Store
from vestige.samples import cloudtrail_records

SAMPLE = orjson.dumps(next(cloudtrail_records(1)))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def _line(kind: str, data: st.DataObject) -> bytes:
    if kind == "bytes":
        return data.draw(st.binary(max_size=300)).replace(b"\n", b" ")
    if kind == "truncated":
        return SAMPLE[: data.draw(st.integers(1, len(SAMPLE) - 1))]
    if kind == "wrong types":
        record = json.loads(SAMPLE)
        field = data.draw(st.sampled_from(sorted(record)))
        record[field] = data.draw(json_values)
        return json.dumps(record).encode()
    if kind == "deep":
        depth = data.draw(st.integers(200, 5000))
        return b'{"eventID": "x", "n": ' + b"[" * depth + b"]" * depth + b"}"
    if kind == "huge string":
        name = "x" * data.draw(st.integers(10_000, 200_000))
        return orjson.dumps({"eventVersion": "1.09", "eventSource": "s3.amazonaws.com",
                             "eventName": name})  # fmt: skip
    if kind == "invalid utf-8":
        return SAMPLE.replace(b"GetObject", b"Get\xff\xfeObject")
    return json.dumps(data.draw(json_values)).encode()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_hostile_lines_are_all_accounted_for(tmp_path_factory: object, data: st.DataObject) -> None:
    assert hasattr(tmp_path_factory, "mktemp")
    root = Path(tmp_path_factory.mktemp("fuzz"))
    kinds = data.draw(st.lists(st.sampled_from(
        ["bytes", "truncated", "wrong types", "deep", "huge string", "invalid utf-8", "json"]
    ), min_size=1, max_size=8))  # fmt: skip
    lines = [_line(kind, data) for kind in kinds]
    dump = root / "hostile.jsonl"
    dump.write_bytes(SAMPLE + b"\n" + b"\n".join(lines) + b"\n")
    ledger = Ledger.init(Store(str(root / "l.db")), root / "home", "fuzz.vestige/log")
    pipeline = Pipeline(ledger, Redactor(b"\x02" * 32), batch_size=3)
    summary = pipeline.ingest_paths(AUTO, [dump]).to_json()
    nonblank = 1 + sum(1 for line in lines if line.strip())
    assert summary["read"] == nonblank
    assert summary["appended"] >= 1  # the good sample record
    assert summary["read"] == summary["appended"] + summary["duplicates"] + summary["quarantined"]
    assert ledger.verify().size == summary["appended"]
    reasons = [row["reason"] for row in pipeline.store.quarantined()]
    assert all(reasons)
