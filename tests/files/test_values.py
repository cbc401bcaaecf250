"""fsjobstore._files.values: JSON values users give, checked, keyed, and a result as a record holds it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from invariants import plain_repr

from fsjobstore._files.values import (
    canonical_json,
    decode_value,
    encode_compact,
    encode_json,
    encode_value,
    loads_text,
    store_value,
)
from fsjobstore.errors import JobTooLarge


@pytest.mark.parametrize("value", [None, True, 0, -1.5, "", "\u00e9\u4e2d", [], {}, {"a": [1, {"b": None}]}])
def test_encode_json_round_trips(value: Any) -> None:
    assert json.loads(encode_json(value, "request")) == value


@pytest.mark.parametrize(
    "value",
    [object(), {1, 2}, b"bytes", 1j, float("nan"), float("inf"), -float("inf"), {"a": [float("nan")]}, {(1, 2): 3}],
    ids=plain_repr,
)
def test_encode_json_refuses_non_json_with_type_error(value: Any) -> None:
    with pytest.raises(TypeError, match="request"):
        encode_json(value, "request")


def test_encode_json_refuses_circular_values_with_type_error() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(TypeError):
        encode_json(loop, "target")


def test_encode_json_limit() -> None:
    assert encode_json("x" * 8, "request", 10) == '"' + "x" * 8 + '"'
    with pytest.raises(JobTooLarge) as caught:
        encode_json("x" * 9, "request", 10)
    assert isinstance(caught.value, ValueError)


def test_encode_json_limit_counts_bytes_not_characters() -> None:
    # max_bytes is documented (and reported) in bytes; "\u00e9" is 2 bytes in UTF-8.
    text = "\u00e9" * 6  # 8 characters as JSON, 14 bytes
    with pytest.raises(JobTooLarge):
        encode_json(text, "request", 10)


def test_canonical_json_ignores_key_order_and_spacing() -> None:
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": 3}]}) == canonical_json({"a": [1, {"c": 3, "d": 2}], "b": 1})
    assert canonical_json({"b": 1, "a": 2}) == '{"a":2,"b":1}'
    assert canonical_json(1) != canonical_json(1.0) != canonical_json(True)


def test_store_value() -> None:
    assert store_value("h\u00e9", None) == ("h\u00e9", "utf-8")
    assert store_value(b"\x00\xff", None) == ("AP8=", "base64")
    assert store_value(bytearray(b"ab"), None) == ("ab", "utf-8")
    assert store_value(memoryview(b"cd"), None) == ("cd", "utf-8")
    assert store_value((1, {"a": None}), None) == ([1, {"a": None}], "json")  # plain JSON types, as a reader sees
    assert decode_value([1, {"a": None}], "json") == b'[1, {"a": null}]'
    with pytest.raises(JobTooLarge, match="value is 5 bytes"):
        store_value("12345", 4)
    with pytest.raises(JobTooLarge, match="value is 9 bytes as JSON"):
        store_value([1, 2, 3], 4)
    for bad in (object(), {1}, float("nan"), "\udc80"):
        with pytest.raises((TypeError, ValueError)):
            store_value(bad, None)


@pytest.mark.parametrize("value", [b"", b"plain", "h\u00e9".encode(), b"\xff\xfe\x00", bytes(range(256))])
def test_value_encoding_round_trips(value: bytes) -> None:
    text, encoding = encode_value(value)
    assert isinstance(text, str)
    assert encoding in ("utf-8", "base64")
    assert decode_value(text, encoding) == value
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        assert encoding == "base64"
    else:
        assert encoding == "utf-8" and text == value.decode("utf-8")


def test_no_value() -> None:
    assert encode_value(None) == (None, None)
    assert decode_value(None, None) is None


@pytest.mark.parametrize("text", [
    '{"a": [1, 2.5, null, "x"]}\n', "[1, 2]", "  7 \n", '"s"\t\r\n ', "1 2", '{"a": 1}\u00a0', '{"a": 1}x',
    "", "   ", "\ufeff{}", "{", "[1,]", "NaN", '{"a": 1}\n\n',
])
def test_loads_text_reads_and_refuses_what_json_loads_does(text: str) -> None:
    try:
        expected: object = json.loads(text)
    except ValueError as exc:
        with pytest.raises(type(exc), match=re.escape(str(exc))):
            loads_text(text)
    else:
        assert repr(loads_text(text)) == repr(expected)


@pytest.mark.parametrize("value", [None, "é\n\"\u2028", 1, -1.5, 1e300, [1, {"a": None}], {1: 2}, True, {"a": (1, 2)},
                                   float("nan"), float("inf"), {"a": object()}, {(1, 2): 3}])
def test_encode_compact_writes_and_refuses_what_the_json_encoder_does(value: Any) -> None:
    reference = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(", ", ": ")).encode
    try:
        expected = reference(value)
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc), match=re.escape(str(exc))):
            encode_compact(value)
    else:
        assert encode_compact(value) == expected


def test_encode_compact_refuses_a_circular_value_every_time() -> None:
    circular: list[Any] = []
    circular.append(circular)
    for _ in range(2):  # (nothing of the first refusal is left for the second call)
        with pytest.raises(ValueError, match="Circular reference"):
            encode_compact(circular)
    assert encode_compact([[], []]) == "[[], []]"
