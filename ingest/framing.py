"""Splitting input files into records, in bounded memory.

Accepted shapes, detected from the content (gzip by its magic bytes):
- JSON lines: one object per line; a bad line is one bad record.
- A JSON array of objects (streamed element by element).
- A single object; ``{"Records": [...]}`` (CloudTrail, as S3 delivers it) is
  split into its records, streamed when the file is larger than the record limit.

Each frame is either a decoded object or an error with the bytes it concerns, so
the pipeline can quarantine it. After a syntax error inside a streamed document
the rest of that document cannot be framed; the error says where it stopped.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

import ijson
import orjson

from vestige.lines import read_lines

__all__ = [
    "DEFAULT_MAX_RECORD",
    "Frame",
    "encode_for_quarantine",
    "frames",
    "input_files",
    "open_input",
]

DEFAULT_MAX_RECORD = 4 * 1024 * 1024
_EXCERPT = 64 * 1024  # bytes of a broken document kept as evidence
_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")


@dataclass(frozen=True)
class Frame:
    """One record's worth of input: ``value`` or, when it cannot be decoded, ``error``."""

    position: str
    value: dict[str, Any] | None = None
    error: str | None = None
    raw: bytes = b""


def input_files(paths: list[Path]) -> Iterator[Path]:
    """Files named, and JSON files under directories named (sorted, hidden ones skipped)."""
    for path in paths:
        if path.is_dir():
            for found in sorted(path.rglob("*")):
                relative = found.relative_to(path).parts
                if found.is_file() and found.name.endswith(_SUFFIXES):
                    if not any(part.startswith(".") for part in relative):
                        yield found
        else:
            yield path


@contextmanager
def open_input(path: Path) -> Iterator[tuple[BinaryIO, BinaryIO]]:
    """(content, file): the bytes, decompressed when gzip (S3 delivers CloudTrail as .json.gz),
    and the file itself, whose position tells progress."""
    with path.open("rb") as raw:
        if raw.read(2) == b"\x1f\x8b":
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                yield cast(BinaryIO, unzipped), raw
            return
        raw.seek(0)
        yield raw, raw


def frames(stream: BinaryIO, limit: int = DEFAULT_MAX_RECORD) -> Iterator[Frame]:
    """The records in ``stream``; see the module docstring for the shapes."""
    buffered = (
        stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(cast(Any, stream))
    )
    first = _first_byte(buffered)
    if first == b"[":
        yield from _stream_items(buffered, "item", "item")
        return
    if first != b"{":
        # Not a JSON document: read it as lines, so that the JSON lines after a broken
        # first line (a log cut mid-record by rotation) are not lost with it.
        yield from _lines(b"", buffered, limit)
        return
    head = buffered.readline(limit + 1)
    single = head.strip()
    if len(head) <= limit and single.endswith(b"}") and _loads(single) is not None:
        yield from _lines(head, buffered, limit)
        return
    # A multi-line document: a pretty-printed object, or a large {"Records": [...]} file.
    rest = buffered.read(limit + 1 - len(head)) if len(head) <= limit else b""
    if len(head) + len(rest) <= limit and not buffered.peek(1):
        yield from _document(head + rest, limit)
        return
    yield from _stream_items(_Chain(head + rest, buffered), "Records.item", "Records")


def _first_byte(stream: io.BufferedReader[Any]) -> bytes:
    while True:
        chunk = stream.peek(1)
        if not chunk:
            return b""
        stripped = chunk.lstrip(b" \t\r\n\xef\xbb\xbf")  # whitespace and a UTF-8 BOM
        if stripped:
            stream.read(len(chunk) - len(stripped))
            return stripped[:1]
        stream.read(len(chunk))


def _loads(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def _records_of(value: Any, where: str, raw: bytes) -> Iterator[Frame]:
    if isinstance(value, dict) and isinstance(value.get("Records"), list):
        for index, item in enumerate(value["Records"]):
            yield _frame(f"{where} Records[{index}]", item)
    else:
        yield _frame(where, value, raw)


def _frame(position: str, value: Any, raw: bytes | None = None) -> Frame:
    """A frame of a decoded value; ``raw``, when known, is kept for the quarantine."""
    if isinstance(value, dict):
        return Frame(position, value, raw=raw or b"")
    kind = "an array" if isinstance(value, list) else type(value).__name__
    data = raw if raw is not None else encode_for_quarantine(value)
    return Frame(position, error=f"expected a JSON object, got {kind}", raw=data)


def encode_for_quarantine(value: Any) -> bytes:
    """JSON bytes of a decoded value whose original bytes are gone (a streamed element).

    orjson encodes at most 255 levels although it decodes 1024: deeper parts are
    replaced by a marker, so any decoded value can be kept as (valid JSON) evidence.
    """
    try:
        return orjson.dumps(value)
    except TypeError:
        return orjson.dumps(_clipped(value, _ENCODABLE_DEPTH))


_ENCODABLE_DEPTH = 200
_ELIDED = "(nested deeper than 200 levels: elided)"


def _clipped(value: Any, depth: int) -> Any:
    if isinstance(value, dict | list) and depth <= 0:
        return _ELIDED
    if isinstance(value, dict):
        return {str(k): _clipped(v, depth - 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_clipped(v, depth - 1) for v in value]
    if isinstance(value, int) and not -(2**63) <= value < 2**64:
        return str(value)  # beyond what orjson encodes
    return value if isinstance(value, str | int | float | bool | None) else repr(value)


def _lines(head: bytes, rest: BinaryIO, limit: int) -> Iterator[Frame]:
    """JSON lines: ``head`` (the first line, already read, or empty) and the rest."""
    offset = 0
    if head:
        offset = 1
        yield from _line(1, head)
    for number, line in read_lines(rest, limit):
        if line is None:
            yield Frame(f"line {number + offset}", error=f"record longer than {limit} bytes")
        elif line.strip():
            yield from _line(number + offset, line)


def _line(number: int, line: bytes) -> Iterator[Frame]:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        yield Frame(f"line {number}", error=f"invalid JSON: {exc}", raw=line)
        return
    yield from _records_of(value, f"line {number}", line)


def _document(data: bytes, limit: int) -> Iterator[Frame]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        # JSON lines whose first line is broken, or a broken document? Lines, if any
        # line is a record; otherwise the document is one bad record.
        lines = list(_lines(b"", io.BytesIO(data), limit))
        if any(frame.value is not None for frame in lines):
            yield from lines
        else:
            yield Frame("document", error=f"invalid JSON: {exc}", raw=data[:_EXCERPT])
        return
    yield from _records_of(value, "document", data)


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def _stream_items(stream: _Readable, prefix: str, label: str) -> Iterator[Frame]:
    counting = _Counting(stream)
    index = -1
    try:
        for index, item in enumerate(ijson.items(counting, prefix, use_float=True)):  # noqa: B007
            yield _frame(f"{label}[{index}]", item)
    except (ijson.JSONError, ijson.IncompleteJSONError, UnicodeDecodeError) as exc:
        yield Frame(
            f"{label}[{index + 1}]",
            error=f"invalid JSON near byte {counting.offset}, rest of document unreadable: {exc}",
            raw=counting.last[-_EXCERPT:],
        )
    if index < 0 and prefix == "Records.item" and counting.offset > 0:
        # A large object without a Records array: too big to be one record.
        yield Frame(
            "document", error="document is larger than the record limit and has no Records array"
        )


class _Counting:
    """Counts bytes handed to the JSON parser and keeps the last chunk for evidence."""

    def __init__(self, inner: _Readable) -> None:
        self._inner = inner
        self.offset = 0
        self.last = b""

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        self.offset += len(data)
        self.last = data
        return data


class _Chain:
    """Bytes already read, then the rest of the stream."""

    def __init__(self, prefix: bytes, rest: BinaryIO) -> None:
        self._prefix = prefix
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if self._prefix:
            if size < 0 or size >= len(self._prefix):
                data, self._prefix = self._prefix, b""
            else:
                data, self._prefix = self._prefix[:size], self._prefix[size:]
            return data
        return self._rest.read(size)
