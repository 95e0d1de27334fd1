"""The orjson fast path of ``ledger.canonical`` against the RFC 8785 reference.

``rfc8785.dumps`` (pure Python, RFC 8785) is the oracle: whatever route
``canonicalize`` and ``parse_json_object`` take, their bytes must be the
reference's, and values the reference refuses must raise ``InputError``.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import math
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.canonical import canonicalize, parse_json_object
from ledger.errors import InputError

MAX_SAFE = 2**53 - 1  # I-JSON / RFC 8785 3.2.2.3: the exact integer range of a double
NAN = float("nan")
INF = float("inf")


def reference(value: Any) -> bytes:
    return bytes(rfc8785.dumps(value))


# -- strategies ---------------------------------------------------------------

# Characters where escaping or ordering could go wrong: controls (escaped as
# \uXXXX or \b \t \n \f \r), the two escaped printables, DEL and the line
# separators (not escaped), the last BMP code point before the surrogates,
# U+E000 and above (UTF-16 sorts them after astral characters), astral ones.
SPECIAL_CHARS = [
    "\x00",
    "\x01",
    "\x08",
    "\t",
    "\n",
    "\x0b",
    "\x0c",
    "\r",
    "\x1f",
    " ",
    '"',
    "\\",
    "/",
    "\x7f",
    "\x80",
    "\u00e9",
    "\u2028",
    "\u2029",
    "\ud7ff",
    "\ue000",
    "\uf8ff",
    "\ufeff",
    "\ufffd",
    "\uffff",
    "\U00010000",
    "\U0001f600",
    "\U0010ffff",
]
# Few characters, so that keys sharing a prefix and differing only in a
# high-BMP versus astral character are frequent.
ORDER_CHARS = ["a", "\u00e9", "\ud7ff", "\ue000", "\uffff", "\U00010000", "\U0001f600"]

chars = st.characters(codec="utf-8") | st.sampled_from(SPECIAL_CHARS)  # utf-8: no surrogates
texts = st.text(chars, max_size=8)
order_keys = st.text(st.sampled_from(ORDER_CHARS), max_size=3)
keys = texts | order_keys

# Doubles where ECMAScript and orjson print differently, and their neighbours.
BOUNDARY_FLOATS = [
    0.0,
    1.0,
    0.1,
    1 / 3,
    1e-5,
    9.999999999999999e-6,
    1e-6,
    1.5e-6,
    9.99999999999999e-7,
    1e-7,
    1.5e-7,
    1e15,
    float(MAX_SAFE),
    2.0**53,
    9.999999999999998e15,
    1e16,
    1.5e16,
    123456789012345680.0,
    1e20,
    9.999999999999999e20,
    1e21,
    1.5e21,
    1e22,
    5e-324,
    2.225073858507201e-308,  # largest subnormal
    2.2250738585072014e-308,  # smallest normal
    1.7976931348623157e308,
]


def _decimal_float(mantissa: int, exponent: int) -> float:
    return float(f"{mantissa}e{exponent}")


finite_floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),  # -0.0, subnormals, extremes
    st.builds(_decimal_float, st.integers(-(10**17), 10**17), st.integers(-30, 30)),
    st.integers(-MAX_SAFE, MAX_SAFE).map(float),  # integral floats
    st.sampled_from(BOUNDARY_FLOATS + [-x for x in BOUNDARY_FLOATS]),  # includes -0.0
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-MAX_SAFE, MAX_SAFE),
    st.sampled_from([MAX_SAFE, -MAX_SAFE, 0]),
    finite_floats,
    texts,
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=5)


json_values = st.recursive(scalars, _containers, max_leaves=16)
json_objects = st.dictionaries(keys, json_values, max_size=6)


# -- the fast path equals RFC 8785 ----------------------------------------------


def examples(n: int) -> settings:
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@examples(1000)
@given(json_values)
def test_canonicalize_equals_rfc8785(value: Any) -> None:
    assert canonicalize(value) == reference(value)


@examples(1000)
@given(finite_floats)
def test_floats_equal_rfc8785_alone_and_nested(x: float) -> None:
    # A float at the end of the output, before a "," or "]" and before a "}".
    for value in (x, [x, 1], [x], {"k": x}):
        assert canonicalize(value) == reference(value)


@examples(200)
@given(st.dictionaries(order_keys, st.integers(0, 9), min_size=2, max_size=8))
def test_key_order_is_utf16_order(value: dict[str, int]) -> None:
    expected = reference(value)
    assert canonicalize(value) == expected
    assert list(orjson.loads(expected)) == sorted(value, key=lambda k: k.encode("utf-16-be"))


def _serializers() -> list[Callable[[Any], bytes]]:
    return [
        orjson.dumps,
        lambda v: json.dumps(v, ensure_ascii=True).encode(),  # \uXXXX escapes, surrogate pairs
        lambda v: json.dumps(v, ensure_ascii=False, indent=1).encode(),  # raw UTF-8, whitespace
    ]


@examples(150)
@given(json_objects, st.sampled_from(_serializers()))
def test_parse_json_object_equals_rfc8785_of_the_parsed_value(
    obj: dict[str, Any], dump: Callable[[Any], bytes]
) -> None:
    text = dump(obj)
    parsed, canonical = parse_json_object(text)
    assert parsed == orjson.loads(text) == obj
    assert canonical == reference(orjson.loads(text))


NUMBER = r"-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?"


@examples(500)
@given(st.from_regex(NUMBER, fullmatch=True))
def test_parsed_numbers_are_rfc8785_or_refused(literal: str) -> None:
    """Every JSON number literal: the reference's bytes, or InputError outside I-JSON."""
    line = b'{"n":' + literal.encode() + b"}"
    is_integer = not any(c in literal for c in ".eE")
    expected: bytes | None
    if is_integer:
        n = int(literal)
        expected = reference({"n": n}) if abs(n) <= MAX_SAFE else None
    else:
        x = float(literal)  # Python's correctly rounded parse, not orjson's
        expected = None if math.isinf(x) else reference({"n": x})
    if expected is None:
        with pytest.raises(InputError):
            parse_json_object(line)
    else:
        assert parse_json_object(line)[1] == expected


# -- each documented difference between orjson and RFC 8785 -----------------------

DIFFERENCES: list[tuple[Any, bytes]] = [
    # integral floats: orjson writes "1.0"
    (1.0, b"1"),
    (-1.0, b"-1"),
    (100.0, b"100"),
    ([1.0, 2.0], b"[1,2]"),
    ([2.0], b"[2]"),
    ({"a": 1.0}, b'{"a":1}'),
    (1e15, b"1000000000000000"),
    (float(MAX_SAFE), b"9007199254740991"),
    # negative zero: orjson writes "-0.0"
    (-0.0, b"0"),
    ([-0.0], b"[0]"),
    ({"z": -0.0}, b'{"z":0}'),
    # 1e16 <= |x| < 1e21: ECMAScript writes digits, orjson an exponent
    (1e16, b"10000000000000000"),
    (-1e16, b"-10000000000000000"),
    (1.5e16, b"15000000000000000"),
    (123456789012345680.0, b"123456789012345680"),
    (1e20, b"100000000000000000000"),
    ([1e20], b"[100000000000000000000]"),
    (9.999999999999999e20, b"999999999999999900000"),
    (1e21, b"1e+21"),
    (1.5e21, b"1.5e+21"),
    (1e22, b"1e+22"),
    # 1e-7 < |x| < 1e-5: ECMAScript writes digits, orjson an exponent
    (1e-6, b"0.000001"),
    (-1e-6, b"-0.000001"),
    (1.5e-6, b"0.0000015"),
    (9.99e-6, b"0.00000999"),
    ({"t": 2e-6}, b'{"t":0.000002}'),
    (1e-5, b"0.00001"),
    (1e-7, b"1e-7"),
    (1.5e-7, b"1.5e-7"),
    (9.99999999999999e-7, b"9.99999999999999e-7"),
    # extremes
    (5e-324, b"5e-324"),
    (1.7976931348623157e308, b"1.7976931348623157e+308"),
    # key order: UTF-16 code units put astral keys before U+E000..U+FFFF
    ({"\ue000": 1, "\U0001f600": 2}, '{"\U0001f600":2,"\ue000":1}'.encode()),
    ({"\uffff": 1, "\U00010000": 2}, '{"\U00010000":2,"\uffff":1}'.encode()),
    ({"a\ue000": 1, "a\U0001f600": 2}, '{"a\U0001f600":2,"a\ue000":1}'.encode()),
    ({"\ud7ff": 1, "\U0001f600": 2}, '{"\ud7ff":1,"\U0001f600":2}'.encode()),
    (
        {"b": 1, "\ue000": 5, "a": 2, "\U0001f600": 4, "\u00e9": 3},
        '{"a":2,"b":1,"\u00e9":3,"\U0001f600":4,"\ue000":5}'.encode(),
    ),
    # string escapes: controls as \uXXXX (or \b \t \n \f \r); DEL and U+2028 raw
    (
        '\x00\x08\t\n\x0b\x0c\r\x1f\x7f\u2028\u2029"\\/',
        b'"\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f\x7f\xe2\x80\xa8\xe2\x80\xa9\\"\\\\/"',
    ),
    ({"\u2028": "\U0001f600"}, '{"\u2028":"\U0001f600"}'.encode()),
]


@pytest.mark.parametrize(("value", "expected"), DIFFERENCES, ids=repr)
def test_documented_differences(value: Any, expected: bytes) -> None:
    assert reference(value) == expected  # the expectation is RFC 8785's
    assert canonicalize(value) == expected


@pytest.mark.parametrize(("value", "expected"), DIFFERENCES, ids=repr)
def test_documented_differences_through_parse(value: Any, expected: bytes) -> None:
    line = orjson.dumps({"v": value})
    assert parse_json_object(line)[1] == b'{"v":' + expected + b"}"


def test_fast_path_needs_no_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain records take the orjson path (else the property tests prove little)."""

    def unavailable(value: object) -> bytes:
        raise AssertionError(f"reference encoder called for {value!r}")

    record = {"b": [1, 0.5, True, None], "a": "x\u00e9\n", "c": {"d": -7, "e": 1.25e-3}}
    expected = b'{"a":"x\xc3\xa9\\n","b":[1,0.5,true,null],"c":{"d":-7,"e":0.00125}}'
    assert reference(record) == expected
    monkeypatch.setattr(rfc8785, "dumps", unavailable)
    assert canonicalize(record) == expected


# -- refusals --------------------------------------------------------------------

NON_FINITE: list[Any] = [
    NAN,
    INF,
    -INF,
    [NAN],
    [None, INF],
    [1.0, None, -INF],
    {"a": None, "b": NAN},
    {"a": None, "b": [None, {"c": INF}]},
    {"x": [None], "y": {"z": None, "w": [-INF, None]}},
]


@pytest.mark.parametrize("value", NON_FINITE, ids=repr)
def test_non_finite_floats_are_refused(value: Any) -> None:
    with pytest.raises(InputError):
        canonicalize(value)


def _embed(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A list or an object around ``children``, with other JSON next to it."""
    in_list = st.builds(
        lambda before, x, after: [*before, x, *after],
        st.lists(json_values, max_size=3),
        children,
        st.lists(json_values, max_size=3),
    )
    in_object = st.builds(
        lambda others, key, x: {**others, key: x},
        st.dictionaries(keys, st.none() | json_values, max_size=3),
        keys,
        children,
    )
    return in_list | in_object


@examples(80)
@given(st.recursive(st.sampled_from([NAN, INF, -INF]), _embed, max_leaves=6))
def test_non_finite_anywhere_is_refused(value: Any) -> None:
    with pytest.raises(InputError):
        canonicalize(value)


@pytest.mark.parametrize("value", [MAX_SAFE, -MAX_SAFE, [MAX_SAFE], {"n": -MAX_SAFE}])
def test_integers_at_the_ijson_bound_are_accepted(value: Any) -> None:
    assert canonicalize(value) == reference(value)
    assert b"9007199254740991" in canonicalize(value)


@pytest.mark.parametrize(
    "value",
    [
        2**53,
        -(2**53),
        2**53 + 1,
        -(2**53 + 1),
        2**63,
        2**64,
        -(2**64),
        10**30,
        [1, 2**60],
        {"a": None, "b": 2**53},
    ],
    ids=repr,
)
def test_integers_beyond_ijson_are_refused(value: Any) -> None:
    with pytest.raises(InputError):
        canonicalize(value)


@pytest.mark.parametrize(
    "literal",
    [
        b"9007199254740992",
        b"9007199254740993",
        b"-9007199254740993",
        b"9223372036854775808",
        b"18446744073709551615",  # 2**64 - 1: still a 64-bit integer
        b"18446744073709551616",  # 2**64: beyond 64 bits
        b"-18446744073709551617",
        b"123456789012345678901234567890",
    ],
)
def test_parsed_integers_beyond_ijson_are_refused(literal: bytes) -> None:
    with pytest.raises(InputError):
        parse_json_object(b'{"a":' + literal + b"}")


@pytest.mark.parametrize(
    "value",
    ["\ud800", "\udfff", "a\udc00b", ["\udbff"], {"\ud800": 1}, {"k": "\ud83d"}],
    ids=ascii,
)
def test_lone_surrogates_are_refused(value: Any) -> None:
    with pytest.raises(InputError):
        canonicalize(value)


@pytest.mark.parametrize(
    "line", [b'{"a":"\\ud800"}', b'{"a":"\\udc00x"}', b'{"\\ud83d":1}', b'{"a":"\xed\xa0\x80"}']
)
def test_parsed_lone_surrogates_are_refused(line: bytes) -> None:
    with pytest.raises(InputError):
        parse_json_object(line)


@pytest.mark.parametrize(
    "value",
    [{1: "a"}, {None: 1}, {True: 1}, {1.5: 1}, {b"k": 1}, {("a",): 1}, [{"ok": {2: 3}}]],
    ids=repr,
)
def test_non_string_keys_are_refused(value: Any) -> None:
    with pytest.raises(InputError):
        canonicalize(value)


class Colour(enum.Enum):
    RED = 1


@dataclasses.dataclass
class Point:
    x: int


@pytest.mark.parametrize(
    "value",
    [
        b"bytes",
        {1, 2},
        complex(1, 2),
        Decimal("1.5"),
        object(),
        datetime.date(2024, 1, 2),
        datetime.datetime(2024, 1, 2, 3, 4, 5),
        Point(1),
        uuid.UUID(int=1),
        Colour.RED,
        {"k": uuid.UUID(int=1)},
        [Colour.RED],
    ],
    ids=repr,
)
def test_values_that_are_not_json_are_refused(value: Any) -> None:
    """Types orjson serializes natively but RFC 8785 refuses must not slip through."""
    with pytest.raises(InputError):
        canonicalize(value)


@pytest.mark.parametrize(
    "value",
    [(1, "a"), (1.0, 2), [(-0.0,)], {"k": (1e16, 1e-6)}, ((0.5, None),)],
    ids=repr,
)
def test_tuples_canonicalize_as_rfc8785_arrays(value: Any) -> None:
    assert canonicalize(value) == reference(value)


@pytest.mark.parametrize("value", [(NAN,), {"a": (None, INF)}, [(-INF,)]], ids=repr)
def test_non_finite_inside_tuples_is_refused(value: Any) -> None:
    with pytest.raises(InputError):
        canonicalize(value)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"[1,2]", "got an array"),
        (b'"text"', "got a string"),
        (b"42", "got a number"),
        (b"1.5", "got a number"),
        (b"true", "got a boolean"),
        (b"null", "got null"),
        (b'{"a":1', "invalid JSON"),
        (b'{"a":NaN}', "invalid JSON"),
        (b'{"a":Infinity}', "invalid JSON"),
        (b'{"a":-Infinity}', "invalid JSON"),
        (b'{"a":1e400}', "invalid JSON"),
        (b'{"a":"\xff"}', "invalid JSON"),
        (b"", "invalid JSON"),
    ],
)
def test_parse_json_object_refusals(line: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_json_object(line)
