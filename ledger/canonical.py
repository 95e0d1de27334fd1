"""Canonical bytes of JSON values (RFC 8785, JSON Canonicalization Scheme).

The pure-Python ``rfc8785`` encoder is the reference. The fast path serializes
with orjson (keys sorted, integers held to 53 bits) and is used only where its
bytes provably equal RFC 8785's; anything else goes to the reference. They
differ in two places:

* numbers: RFC 8785 3.2.2.3 prints doubles as ECMAScript does. Integers and
  non-integral doubles with 1e-5 <= |x| < 1e16 print the same in both; orjson
  writes other doubles differently (``1.0``, ``-0.0``, ``1e+16``, ``1e-6``)
  and writes NaN and infinities, which are not JSON, as ``null``. So a value
  holding any other float takes the reference path, which also refuses
  NaN and infinities.
* key order: RFC 8785 3.2.3 sorts keys by UTF-16 code units, orjson by code
  points; the orders differ only for characters at or above U+E000, whose
  UTF-8 lead bytes are 0xEE..0xF4.

A false alarm costs only speed; the tests prove equality over arbitrary JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Final, TypeAlias

import orjson
import rfc8785

from ledger.errors import InputError

JSONValue: TypeAlias = "dict[str, JSONValue] | list[JSONValue] | str | int | float | bool | None"

__all__ = ["JSONValue", "canonicalize", "parse_json_object"]

_OPTIONS: Final = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_STRICT_INTEGER
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
_HIGH_LEAD_BYTES: Final = tuple(bytes([lead]) for lead in range(0xEE, 0xF5))


def _refuse(value: object) -> Any:
    # Anything orjson would serialize beyond plain JSON goes to the reference.
    raise TypeError(type(value).__name__)


_SCALARS: Final = frozenset({str, int, bool, type(None)})


def _plain_json(container: dict[str, Any] | list[Any] | tuple[Any, ...]) -> bool:
    """Is everything inside plain JSON data that orjson prints as RFC 8785 does?"""
    items: Iterable[Any] = container.values() if type(container) is dict else container
    for item in items:
        kind = type(item)
        if kind in _SCALARS:
            continue
        if kind is float:
            # False for NaN too: every comparison with NaN is false.
            if not 1e-5 <= abs(item) < 1e16 or item.is_integer():
                return False
        elif kind is dict or kind is list or kind is tuple:
            if not _plain_json(item):
                return False
        else:
            return False  # UUIDs, enums, subclasses...: the reference decides
    return True


def _fast(value: object) -> bytes | None:
    """orjson's bytes if they equal RFC 8785's, else None."""
    try:
        if not _plain_json([value]):
            return None
        out = orjson.dumps(value, default=_refuse, option=_OPTIONS)
    except (TypeError, RecursionError, orjson.JSONEncodeError):
        return None
    if not out.isascii():
        for lead in _HIGH_LEAD_BYTES:
            if lead in out:
                return None
    return out


def _reference(value: object) -> bytes:
    try:
        return bytes(rfc8785.dumps(value))  # type: ignore[arg-type]  # checked at run time
    except rfc8785.CanonicalizationError as exc:
        raise InputError(f"not canonicalizable JSON: {exc}") from exc
    except RecursionError:
        raise InputError("JSON nested too deeply") from None
    except (TypeError, ValueError) as exc:
        raise InputError(f"not JSON data: {exc}") from exc


def canonicalize(value: object) -> bytes:
    """RFC 8785 bytes of ``value``; :class:`InputError` if it is not JSON data."""
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
    out = _fast(value)
    if out is None:
        # orjson reads integers beyond 64 bits as floats; the standard library
        # keeps every integer exact, so the reference judges the literal as written.
        value = json.loads(line)
        out = _reference(value)
    return value, out


def _json_type(value: object) -> str:
    return {
        list: "an array",
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "a boolean",
    }.get(type(value), "null")
