"""Framing: every record of every supported file shape, errors isolated, memory bounded."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.framing import Frame, frames, input_files, open_input


def _frames(data: bytes, limit: int = 1 << 20) -> list[Frame]:
    return list(frames(io.BytesIO(data), limit))


def test_json_lines_isolate_a_bad_line() -> None:
    data = b'{"a": 1}\n\n{"a": 2\n[1, 2]\n{"a": 3}\n'
    got = _frames(data)
    assert [f.position for f in got] == ["line 1", "line 3", "line 4", "line 5"]
    assert [f.value for f in got] == [{"a": 1}, None, None, {"a": 3}]
    assert got[1].error is not None and got[1].error.startswith("invalid JSON")
    assert got[1].raw == b'{"a": 2\n'
    assert got[2].error == "expected a JSON object, got an array"


def test_cloudtrail_records_file_pretty_printed_and_on_one_line() -> None:
    records = [{"eventID": str(i)} for i in range(3)]
    for text in (json.dumps({"Records": records}, indent=2), json.dumps({"Records": records})):
        got = _frames(text.encode())
        assert [f.value for f in got] == records
        assert all("Records[" in f.position for f in got)


def test_large_records_file_is_streamed_not_loaded() -> None:
    records = [{"eventID": str(i), "pad": "x" * 100} for i in range(2000)]
    data = json.dumps({"Records": records}, indent=1).encode()
    got = _frames(data, limit=4096)  # far smaller than the file
    assert [f.value for f in got] == records
    assert got[-1].position == "Records[1999]"


def test_truncated_stream_reports_where_it_stopped() -> None:
    records = [{"eventID": str(i), "pad": "y" * 100} for i in range(200)]
    data = json.dumps({"Records": records}).encode()[:15_000]
    got = _frames(data + b"\n", limit=4096)
    good = [f for f in got if f.value is not None]
    assert good and good == [Frame(f"Records[{i}]", records[i]) for i in range(len(good))]
    assert got[-1].value is None and got[-1].error is not None
    assert got[-1].position == f"Records[{len(good)}]"
    assert "rest of document unreadable" in got[-1].error
    assert got[-1].raw  # evidence kept


def test_array_of_records_and_a_non_object_element() -> None:
    got = _frames(b'[{"a": 1}, "text", {"b": 2}]')
    assert [f.value for f in got] == [{"a": 1}, None, {"b": 2}]
    assert got[1].error == "expected a JSON object, got str"


def test_oversized_line_is_one_rejected_frame() -> None:
    data = b'{"a": 1}\n{"big": "' + b"z" * 5000 + b'"}\n{"a": 2}\n'
    got = _frames(data, limit=1024)
    assert [f.value for f in got] == [{"a": 1}, None, {"a": 2}]
    assert got[1].error == "record longer than 1024 bytes"


def test_not_json_at_all() -> None:
    got = _frames(b"\xef\xbb\xbf  hello")
    assert len(got) == 1 and got[0].error is not None and got[0].raw == b"hello"
    assert _frames(b"   \n ") == []


def test_a_broken_first_line_does_not_take_the_rest_with_it() -> None:
    cut = _frames(b'"eventID": "x"}\n{"a": 1}\n{"a": 2}\n')  # a log cut mid-record
    assert [f.value for f in cut] == [None, {"a": 1}, {"a": 2}]
    assert [f.position for f in cut] == ["line 1", "line 2", "line 3"]
    broken = _frames(b'{"a": 1,\n{"b": 2}\n{"c": 3}\n')
    assert [f.value for f in broken] == [None, {"b": 2}, {"c": 3}]
    pretty = _frames(b'{\n  "a": [1,\n  2\n}\n')  # a broken document stays one record
    assert len(pretty) == 1 and pretty[0].position == "document"


def test_gzip_and_directory_walk(tmp_path: Path) -> None:
    (tmp_path / "a" / ".hidden").mkdir(parents=True)
    (tmp_path / "a" / "x.json.gz").write_bytes(gzip.compress(b'{"Records": [{"k": 1}]}'))
    (tmp_path / "a" / "y.jsonl").write_bytes(b'{"k": 2}\n')
    (tmp_path / "a" / "README.md").write_text("not a record")
    (tmp_path / "a" / ".hidden" / "z.json").write_text("{}")
    files = list(input_files([tmp_path / "a"]))
    assert [f.name for f in files] == ["x.json.gz", "y.jsonl"]
    values = []
    for path in files:
        with open_input(path) as (stream, _raw):
            values += [f.value for f in frames(stream)]
    assert values == [{"k": 1}, {"k": 2}]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_frame_without_crashing(data: bytes) -> None:
    for frame in frames(io.BytesIO(data), 256):
        assert (frame.value is None) != (frame.error is None)
