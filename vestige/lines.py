"""Reading JSON lines with a bound on each line's size, so no line can exhaust memory."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ledger import InputError, Record, parse_json_object

DEFAULT_MAX_LINE = 4 * 1024 * 1024


@dataclass(frozen=True)
class Rejected:
    line: int
    error: str


def read_lines(stream: BinaryIO, limit: int) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) per line; bytes is None for a line over ``limit``.

    An oversized line is skipped in bounded chunks, never held whole.
    """
    number = 0
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) > limit and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = stream.readline(1 << 20)
            yield number, None
            continue
        yield number, line


def records(
    stream: BinaryIO, limit: int, key_field: str | None, rejected: list[Rejected]
) -> Iterator[Record]:
    """Records from JSON lines; each bad line goes to ``rejected`` with its reason."""
    for number, line in read_lines(stream, limit):
        if line is None:
            rejected.append(Rejected(number, f"line is longer than {limit} bytes"))
            continue
        if not line.strip():
            continue
        try:
            value, canonical = parse_json_object(line)
            key = None
            if key_field is not None:
                if key_field not in value:
                    raise InputError(f"no {key_field!r} member to use as the key")
                key = str(value[key_field])
            yield Record.of(value, canonical, key=key)
        except InputError as exc:
            rejected.append(Rejected(number, str(exc)))
