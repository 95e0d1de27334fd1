"""Splitting input files into records, in bounded memory.

Accepted shapes, detected from the content (gzip by its magic bytes):
- JSON lines: one object per line; a bad line is one bad record.
- A JSON array of objects (streamed element by element).
- A single object; ``{"Records": [...]}`` (CloudTrail, as S3 delivers it) is
  split into its records, streamed when the file is larger than the record limit.

Each frame is either a decoded object or an error with the bytes it concerns, so
the pipeline can quarantine it. After a syntax error inside a streamed document
the rest of that document cannot be framed; the error says where it stopped.

The record limit holds for streamed elements too: the fast parser (ijson's C
backend) builds an element whole, so it is stopped once an element has taken more
bytes than the limit, and the document is read again by the exact path, which counts
each element's size while building it and keeps only an excerpt of one too large.

Only regular files are read: FIFOs, devices and sockets (which could block or never
end) are skipped with a reason, as are symlink loops; a gzip stream cut short keeps
the records before the cut and ends with a frame naming the truncation.
"""

from __future__ import annotations

import errno
import gzip
import io
import itertools
import os
import stat
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

import ijson
import orjson
from ijson.common import ObjectBuilder

from vestige.lines import read_lines

__all__ = [
    "DEFAULT_MAX_RECORD",
    "Frame",
    "Skip",
    "encode_for_quarantine",
    "file_frames",
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


@dataclass(frozen=True)
class Skip:
    """An input path not read, and why; ``given`` when it was named, not found in a walk."""

    path: str
    reason: str
    given: bool = False

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _special(mode: int) -> str | None:
    """Why a file of this mode is not read (reading could block or never end), or None."""
    for test, kind in _KINDS:
        if test(mode):
            return f"not a regular file: {kind}"
    return None


def input_files(paths: list[Path], skipped: list[Skip] | None = None) -> Iterator[Path]:
    """Files named, and JSON files under directories named (sorted, hidden ones ignored).

    Special files, symlink loops and unreadable entries are not yielded; each is
    appended to ``skipped`` with its reason.
    """
    skips = skipped if skipped is not None else []
    for path in paths:
        try:
            mode = path.stat().st_mode
        except OSError:
            yield path  # reported as unreadable when it is opened
            continue
        if stat.S_ISDIR(mode):
            yield from _walk(path, skips, frozenset(), set())
        elif (problem := _special(mode)) is not None:
            skips.append(Skip(str(path), problem, given=True))
        else:
            yield path


def _walk(
    directory: Path, skips: list[Skip], ancestors: frozenset[tuple[int, int]],
    walked: set[tuple[int, int]],
) -> Iterator[Path]:  # fmt: skip
    info = directory.stat()
    key = (info.st_dev, info.st_ino)
    if key in ancestors:
        skips.append(Skip(str(directory), "symlink loop: links back to a directory above it"))
        return
    if key in walked:
        skips.append(Skip(str(directory), "directory already walked through another link"))
        return
    walked.add(key)
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError as exc:
        skips.append(Skip(str(directory), f"unreadable directory: {exc.strerror}"))
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        try:
            mode = path.stat().st_mode  # through symlinks
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                skips.append(Skip(str(path), "symlink loop"))
            elif entry.is_symlink():
                skips.append(Skip(str(path), "broken symlink"))
            else:
                skips.append(Skip(str(path), f"unreadable: {exc.strerror}"))
            continue
        if stat.S_ISDIR(mode):
            yield from _walk(path, skips, ancestors | {key}, walked)
        elif not entry.name.endswith(_SUFFIXES):
            continue  # not input: only JSON files are read from a directory
        elif (problem := _special(mode)) is not None:
            skips.append(Skip(str(path), problem))
        else:
            yield path


@contextmanager
def open_input(path: Path) -> Iterator[tuple[BinaryIO, BinaryIO]]:
    """(content, file): the bytes, decompressed when gzip (S3 delivers CloudTrail as .json.gz),
    and the file itself, whose position tells progress.

    Opened without blocking and checked on the open descriptor, so a FIFO or device
    swapped in after the walk is refused (OSError), never read. A gzip stream cut short
    reads as ending at the cut; the content's ``truncated`` says why it ended.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        problem = _special(os.fstat(fd).st_mode)
        if problem is not None:
            raise OSError(errno.EINVAL, problem)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    with open(fd, "rb") as raw:
        if raw.read(2) == b"\x1f\x8b":
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                yield cast(BinaryIO, io.BufferedReader(_UntilCut(unzipped))), raw
            return
        raw.seek(0)
        yield raw, raw


class _UntilCut(io.RawIOBase):
    """A gzip stream that ends at a cut (truncated or corrupt) instead of failing there,
    keeping what decompressed before it; ``truncated`` holds the reason, if any."""

    def __init__(self, inner: gzip.GzipFile) -> None:
        self._inner = inner
        self.truncated: str | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.truncated = None
        return self._inner.seek(offset, whence)

    def readinto(self, buffer: Any) -> int:
        if self.truncated is not None:
            return 0
        try:
            data = self._inner.read(len(buffer))
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            self.truncated = str(exc) or type(exc).__name__
            return 0
        buffer[: len(data)] = data
        return len(data)


def truncation_of(stream: BinaryIO) -> str | None:
    """Why a stream of :func:`open_input` ended early (a cut gzip), or None."""
    raw = getattr(stream, "raw", None)
    return raw.truncated if isinstance(raw, _UntilCut) else None


def file_frames(path: Path, limit: int) -> Iterator[tuple[Frame, Callable[[], int]]]:
    """The frames of one file, each with a reader of the file bytes consumed so far.

    A file that cannot be opened, or that breaks off (I/O error), becomes one error
    frame. A cut gzip keeps its records; the frame of its tail (or, when the cut fell
    between records, one more frame) names the truncation.
    """
    try:
        with open_input(path) as (stream, raw_file):
            held: Frame | None = None
            try:
                for frame in frames(stream, limit):
                    if held is not None:
                        yield held, raw_file.tell
                    held = frame
            except (OSError, EOFError, zlib.error) as exc:
                if held is not None:
                    yield held, raw_file.tell
                yield _unreadable(exc), raw_file.tell
                return
            cut = truncation_of(stream)
            if cut is not None:
                reason = f"truncated gzip ({cut}); the records before the cut were read"
                if held is not None and held.error is not None:
                    held = Frame(held.position, error=f"{reason}: {held.error}", raw=held.raw)
                else:
                    if held is not None:
                        yield held, raw_file.tell
                    held = Frame("end of file", error=reason)
            if held is not None:
                yield held, raw_file.tell
    except (OSError, EOFError, zlib.error) as exc:
        yield _unreadable(exc), lambda: 0


def _unreadable(exc: Exception) -> Frame:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return Frame("file", error=f"input unreadable: {reason}")


def frames(stream: BinaryIO, limit: int = DEFAULT_MAX_RECORD) -> Iterator[Frame]:
    """The records in ``stream``; see the module docstring for the shapes."""
    done = 0
    try:
        for frame in _frames(stream, limit, exact=False):
            yield frame
            done += 1
    except _Oversized as oversized:
        if not stream.seekable():
            yield Frame(oversized.position, error=f"record longer than {limit} bytes; "
                        "the rest of the document cannot be read from this stream")  # fmt: skip
            return
        # The fast parser cannot skip an element it is building: read the document
        # again with the exact one, past the frames already given.
        stream.seek(0)
        yield from itertools.islice(_frames(stream, limit, exact=True), done, None)


def _frames(stream: BinaryIO, limit: int, exact: bool) -> Iterator[Frame]:
    buffered = (
        stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(cast(Any, stream))
    )
    first = _first_byte(buffered)
    if first == b"[":
        yield from _stream_items(buffered, "item", "item", limit, exact)
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
    yield from _stream_items(_Chain(head + rest, buffered), "Records.item", "Records", limit, exact)


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
        # Or a Records document cut short (a truncated gzip): its complete records.
        for salvaged in (
            list(_lines(b"", io.BytesIO(data), limit)),
            list(_stream_items(io.BytesIO(data), "Records.item", "Records", limit, exact=True)),
        ):
            if any(frame.value is not None for frame in salvaged):
                yield from salvaged
                return
        yield Frame("document", error=f"invalid JSON: {exc}", raw=data[:_EXCERPT])
        return
    yield from _records_of(value, "document", data)


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Oversized(Exception):  # noqa: N818  # control flow between the two parsers
    def __init__(self, position: str) -> None:
        super().__init__(position)
        self.position = position


_BUFFER = 64 * 1024  # what ijson reads at a time


def _stream_items(
    stream: _Readable, prefix: str, label: str, limit: int, exact: bool
) -> Iterator[Frame]:
    counting = _Counting(stream)
    counting.guard = None if exact else limit
    index = -1
    items = _exact_items(counting, prefix, limit) if exact else _fast_items(counting, prefix)
    try:
        for index, item in enumerate(items):  # noqa: B007
            position = f"{label}[{index}]"
            too_long = f"record longer than {limit} bytes (only its first bytes are kept)"
            if isinstance(item, _TooLong):
                yield Frame(position, error=too_long, raw=item.excerpt)
                continue
            # An element that may be over the limit (it ended in a chunk read after
            # more than ``limit - _BUFFER`` bytes) is measured.
            if not exact and counting.since_mark() + _BUFFER > limit:
                encoded = encode_for_quarantine(item)
                if len(encoded) > limit:
                    yield Frame(position, error=too_long, raw=encoded[:_EXCERPT])
                    counting.mark()
                    continue
            counting.mark()
            yield _frame(position, item)
    except _GuardTripped:
        raise _Oversized(f"{label}[{index + 1}]") from None
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


def _fast_items(stream: _Readable, prefix: str) -> Iterator[Any]:
    return cast(Iterator[Any], ijson.items(stream, prefix, use_float=True))


@dataclass(frozen=True)
class _TooLong:
    excerpt: bytes


def _exact_items(stream: _Readable, prefix: str, limit: int) -> Iterator[Any]:
    """The elements at ``prefix``, built from parser events while their size is counted
    (an estimate of their compact JSON); one over ``limit`` is dropped as it is read,
    and a :class:`_TooLong` with an excerpt of its first members stands in for it."""
    builder: ObjectBuilder | None = None
    size = 0
    excerpt = b""
    for path, event, value in ijson.parse(stream, use_float=True):
        if builder is None:
            if path != prefix:
                continue
            if event in ("start_map", "start_array"):
                builder, size = ObjectBuilder(), 2
                builder.event(event, value)
            elif event not in ("end_map", "end_array"):
                yield value  # a scalar element
            continue
        closing = path == prefix and event in ("end_map", "end_array")
        if size <= limit:
            size += len(value) + 4 if isinstance(value, str) else 8
            builder.event(event, value)
            if size > limit:
                excerpt = encode_for_quarantine(builder.value)[:_EXCERPT]
        if closing:
            yield builder.value if size <= limit else _TooLong(excerpt)
            builder = None


class _GuardTripped(Exception):  # noqa: N818
    pass


class _Counting:
    """Counts bytes handed to the JSON parser and keeps the last chunk for evidence.

    With a ``guard``, refuses to read on once more than that many bytes were read since
    the last :meth:`mark` (the end of the last element): the element being built is
    then over the limit, and the fast parser must not build it further.
    """

    def __init__(self, inner: _Readable) -> None:
        self._inner = inner
        self.offset = 0
        self.last = b""
        self.guard: int | None = None
        self._mark = 0

    def mark(self) -> None:
        self._mark = self.offset

    def since_mark(self) -> int:
        return self.offset - self._mark

    def read(self, size: int = -1) -> bytes:
        if self.guard is not None and self.offset - self._mark > self.guard:
            raise _GuardTripped
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
