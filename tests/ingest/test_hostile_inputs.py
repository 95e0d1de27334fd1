"""Input paths an attacker or a careless operator hands to `vestige ingest`, on real stores:
oversized streamed elements, FIFOs, devices, symlink loops, a gzip cut in the middle."""

from __future__ import annotations

import gzip
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest import IngestStore, Pipeline, Redactor
from ingest.framing import frames
from ledger import Ledger
from vestige.samples import cloudtrail_records


def _pipeline(ledger: Ledger, limit: int = 4096) -> Pipeline:
    return Pipeline(ledger, Redactor(b"\x05" * 32), batch_size=7, max_record_bytes=limit)


def _rows(ledger: Ledger) -> list[dict[str, Any]]:
    return IngestStore(ledger.store).quarantined(limit=100_000)


def test_a_streamed_element_over_the_limit_is_quarantined_and_the_rest_read(
    make_ledger: Callable[..., Ledger], tmp_path: Path
) -> None:
    ledger = make_ledger()
    records: list[dict[str, Any]] = list(cloudtrail_records(30))
    limit = 4096
    records[12]["requestParameters"] = {"policy": "p" * (limit + 100)}  # just over
    records[20]["requestParameters"] = {"blob": "b" * 300_000}  # far over: the guard trips
    dump = tmp_path / "trail.json"
    dump.write_bytes(orjson.dumps({"Records": records}))
    summary = _pipeline(ledger, limit).ingest_paths("cloudtrail", [dump]).to_json()
    assert (summary["read"], summary["appended"], summary["quarantined"]) == (30, 28, 2)
    rows = _rows(ledger)
    assert [row["position"] for row in rows] == ["Records[12]", "Records[20]"]
    assert all(row["reason"].startswith(f"record longer than {limit} bytes") for row in rows)
    assert all(row["size"] <= 64 * 1024 for row in rows)  # an excerpt, not the element
    stored = IngestStore(ledger.store).quarantined_record(rows[0]["id"])
    assert stored is not None and records[12]["eventID"].encode() in bytes(stored["raw"])
    assert ledger.verify().size == 28


def test_an_oversized_element_of_a_top_level_array_is_refused_too() -> None:
    items = [{"n": i, "pad": "x" * (20_000 if i == 3 else 10)} for i in range(6)]
    got = list(frames(io.BytesIO(json.dumps(items).encode()), 8192))
    assert [f.value for f in got] == [items[0], items[1], items[2], None, items[4], items[5]]
    assert got[3].error is not None and got[3].error.startswith("record longer than 8192")


def test_special_files_and_symlink_loops_are_skipped_with_their_reason(
    make_ledger: Callable[..., Ledger], tmp_path: Path
) -> None:
    ledger = make_ledger()
    tree = tmp_path / "logs"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "good.json").write_bytes(orjson.dumps({"Records": [*cloudtrail_records(3)]}))
    os.mkfifo(tree / "pipe.json")
    (tree / "sub" / "up").symlink_to(tree, target_is_directory=True)  # a loop
    (tree / "self.json").symlink_to(tree / "self.json")  # ELOOP
    fifo = tmp_path / "direct.jsonl"
    os.mkfifo(fifo)
    summary = _pipeline(ledger).ingest_paths("cloudtrail", [tree, fifo, Path("/dev/zero")])
    document = summary.to_json()
    assert document["appended"] == 3
    reasons = {skip["path"]: skip["reason"] for skip in document["skipped"]}
    assert reasons == {
        str(tree / "pipe.json"): "not a regular file: a FIFO",
        str(tree / "self.json"): "symlink loop",
        str(tree / "sub" / "up"): "symlink loop: links back to a directory above it",
        str(fifo): "not a regular file: a FIFO",
        "/dev/zero": "not a regular file: a character device",
    }
    assert [s.given for s in summary.skipped] == [False, False, False, True, True]


@pytest.mark.parametrize("shape", ["lines.jsonl.gz", "trail.json.gz"])
def test_a_gzip_cut_in_the_middle_keeps_what_decompressed(
    make_ledger: Callable[..., Ledger], tmp_path: Path, shape: str
) -> None:
    ledger = make_ledger()
    records = list(cloudtrail_records(200, 4))
    if shape == "lines.jsonl.gz":
        data = b"\n".join(orjson.dumps(r) for r in records) + b"\n"
    else:
        data = orjson.dumps({"Records": records})
    whole = gzip.compress(data)
    cut = tmp_path / shape
    cut.write_bytes(whole[: len(whole) // 2])
    # What decompresses out of the first half, read by itself.
    salvage = b""
    with gzip.GzipFile(fileobj=io.BytesIO(cut.read_bytes())) as half:
        try:
            while chunk := half.read(1024):
                salvage += chunk
        except EOFError:
            pass
    complete = sum(1 for r in records if orjson.dumps(r) in salvage)
    assert 0 < complete < len(records)
    summary = _pipeline(ledger, 1 << 20).ingest_paths("cloudtrail", [cut]).to_json()
    # Every record that decompressed whole is appended; what follows is the tail.
    assert summary["appended"] == complete
    assert summary["quarantined"] == 1
    (tail,) = _rows(ledger)
    assert tail["reason"].startswith("truncated gzip"), tail["reason"]
    assert tail["size"] > 0  # the excerpt of the record that was cut
    assert ledger.verify().size == complete
