"""Canonical bytes of JSON values (RFC 8785, JSON Canonicalization Scheme).

The pure-Python ``rfc8785`` encoder is the reference. The fast path serializes
with orjson (keys sorted, integers held to 53 bits) and keeps the result only
when its bytes provably equal RFC 8785's; any output that could differ falls
back to the reference. Where they can differ:

* numbers: RFC 8785 3.2.2.3 prints doubles as ECMAScript does. orjson writes
  integral floats as ``1.0`` and ``-0.0``, and uses exponents for 1e16..1e21
  and 1e-7 < x < 1e-5 where ECMAScript writes digits. Each of those outputs
  contains ``.0`` before a delimiter, ``e+1``, ``e+20`` or ``e-6``.
* key order: RFC 8785 3.2.3 sorts keys by UTF-16 code units, orjson by code
  points; the orders differ only for characters at or above U+E000, whose
  UTF-8 lead bytes are 0xEE..0xF4.
* NaN and infinities are not JSON; orjson would write ``null``. A ``null`` in
  the output therefore sends the value through a check for non-finite floats.

A false alarm costs only speed; the tests prove equality over arbitrary JSON.
"""

from __future__ import annotations

import math
from typing import Any, Final, TypeAlias

import orjson
import rfc8785

from ledger.errors import InputError

JSONValue: TypeAlias = "dict[str, JSONValue] | list[JSONValue] | str | int | float | bool | None"

__all__ = ["JSONValue", "canonicalize", "canonicalize_parsed", "parse_json_object"]

_OPTIONS: Final = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_STRICT_INTEGER
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
_NUMBER_DIFFERENCES: Final = (b".0,", b".0}", b".0]", b"e+1", b"e+20", b"e-6")
_HIGH_LEAD_BYTES: Final = tuple(bytes([lead]) for lead in range(0xEE, 0xF5))


def _refuse(value: object) -> Any:
    # Anything orjson would serialize beyond plain JSON goes to the reference.
    raise TypeError(type(value).__name__)


def _fast(value: object) -> bytes | None:
    """orjson's bytes if they equal RFC 8785's, else None."""
    try:
        out = orjson.dumps(value, default=_refuse, option=_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        return None
    for marker in _NUMBER_DIFFERENCES:
        if marker in out:
            return None
    if out.endswith(b".0"):
        return None
    if not out.isascii():
        for lead in _HIGH_LEAD_BYTES:
            if lead in out:
                return None
    return out


def _has_non_finite(value: object) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
        elif type(item) is float and not math.isfinite(item):
            return True
    return False


def _reference(value: object) -> bytes:
    try:
        return bytes(rfc8785.dumps(value))  # type: ignore[arg-type]  # checked at run time
    except rfc8785.CanonicalizationError as exc:
        raise InputError(f"not canonicalizable JSON: {exc}") from exc
    except (TypeError, ValueError) as exc:
        raise InputError(f"not JSON data: {exc}") from exc


def canonicalize(value: object) -> bytes:
    """RFC 8785 bytes of ``value``; :class:`InputError` if it is not JSON data."""
    out = _fast(value)
    if out is None or (b"null" in out and _has_non_finite(value)):
        return _reference(value)
    return out


def canonicalize_parsed(value: object) -> bytes:
    """:func:`canonicalize` for values straight from ``orjson.loads``.

    orjson refuses ``NaN`` and ``Infinity`` when parsing, so the non-finite
    check is not needed here.
    """
    out = _fast(value)
    return _reference(value) if out is None else out


def parse_json_object(line: bytes) -> tuple[dict[str, JSONValue], bytes]:
    """Parse one JSON object and return it with its canonical bytes.

    Refuses invalid UTF-8, invalid JSON, NaN/Infinity, non-objects and
    integers outside +-(2**53 - 1) (RFC 8785 3.2.2.3: I-JSON numbers).
    """
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InputError(f"expected a JSON object, got {_json_type(value)}")
    return value, canonicalize_parsed(value)


def _json_type(value: object) -> str:
    return {
        list: "an array",
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "a boolean",
    }.get(type(value), "null")
