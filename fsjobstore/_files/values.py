"""JSON values users give (requests, targets, results): encoded, checked against
the store's limits, keyed for file names, and a result as a record holds it."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import JobTooLarge
from ..job import json_value_bytes

_compact = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(", ", ": "))
# The C encoder JSONEncoder.encode ends in (None in a Python built without it); its
# chunks come as a list (a `tuple` annotation misstated it, and mypyc checks it at run time).
_make_encoder: Callable[..., Callable[[Any, int], Iterable[str]]] | None = json.encoder.c_make_encoder  # type: ignore[attr-defined]


def encode_compact(value: Any) -> str:
    """``JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(", ", ": ")).encode``,
    calling the C encoder it ends in directly, with the same arguments (a fresh
    ``markers`` dict each time: circular values are refused, threads share nothing):
    the Python in between cost as much as encoding a request."""
    if _make_encoder is None:
        return _compact.encode(value)
    encoder = _make_encoder({}, _compact.default, json.encoder.encode_basestring, None, ": ", ", ", False, False,
                            False)
    return "".join(encoder(value, 0))
_canonical = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
).encode


# (the C scanner json.loads ends in; set by JSONDecoder's constructor, so typeshed omits it)
_scan_once: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def loads_text(text: str) -> Any:
    """``json.loads(text)``, less the wrapper's own work (a tenth of parsing a record)
    when the text is a value followed by nothing but JSON whitespace, as a record
    is; any other text goes to ``json.loads``, so what is refused, and how, is its."""
    try:
        value, end = _scan_once(text, 0)
    except StopIteration:  # (leading whitespace, or no value at all)
        return json.loads(text)
    if end != len(text) and text[end:].strip(" \t\n\r"):
        return json.loads(text)
    return value


# The deepest nesting of arrays and objects a request, value or target may have.
# Python's JSON reader recurses once per level, so a reader already deep in its
# own stack (a loop, a callback) could not read back a value much deeper than
# this: refused when written, and a planted deeper file is reported as corrupt.
MAX_DEPTH = 100


def encode_json(value: Any, what: str, limit: int | None = None) -> str:
    """Serialise a user-given JSON value, or raise TypeError naming *what* is wrong
    (JobTooLarge if it is too big or nested deeper than MAX_DEPTH)."""
    try:
        text = encode_compact(value)
    except (TypeError, ValueError) as exc:  # (a circular value included)
        raise TypeError(f"{what} is not JSON-serialisable: {exc}") from None
    except RecursionError:
        text = ""  # deeper than the stack: check_depth names the limit
    # Each level opens a bracket: a text with no more than MAX_DEPTH of them (brackets
    # in strings included) cannot nest deeper, and needs no walk.
    if not text or text.count("[") + text.count("{") > MAX_DEPTH:
        check_depth(value, what)
    if limit is not None and len(text) > limit // 4 and (size := len(text.encode("utf-8"))) > limit:
        raise JobTooLarge(f"{what} is {size} bytes as JSON, the store's limit is {limit}")
    return text


def check_depth(value: Any, what: str) -> None:
    """Raise JobTooLarge if *value* nests arrays and objects deeper than MAX_DEPTH
    (without recursing: the value may be deeper than the stack)."""
    if not isinstance(value, (dict, list, tuple)):
        return
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise JobTooLarge(f"{what} is nested more than {MAX_DEPTH} levels deep, the limit")
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list, tuple)))


def canonical_json(value: Any) -> str:
    """One spelling per JSON value (sorted keys, no spaces): identity of a target."""
    return _canonical(value)


def value_key(value: Any) -> str:
    """A file name for a JSON value (a target, a resource): the same for equal
    values, whatever their key order."""
    # Round-trip first, so that what JSON cannot tell apart ({1: x} and {"1": x})
    # gets one key, and mixed key types can be sorted.
    text = canonical_json(json.loads(encode_json(value, "target")))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


JSON_VALUE = "json"
# (what a record's "value" holds, its "value_encoding"): (None, None) for no value.
StoredValue = tuple[Any, str | None]
NO_VALUE: StoredValue = (None, None)


def store_value(value: Any, limit: int | None) -> StoredValue:
    """A fulfilment value as a record holds it: bytes and str as text (base64 if not
    UTF-8), any other JSON value as itself. TypeError (naming the problem) for what
    is none of these, JobTooLarge for one over *limit* bytes."""
    if isinstance(value, (str, bytes, bytearray, memoryview)):
        data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        if limit is not None and len(data) > limit:
            raise JobTooLarge(f"value is {len(data)} bytes, the store's limit is {limit}")
        return (value, "utf-8") if isinstance(value, str) else encode_value(data)
    # Parsed back so that the record holds plain JSON types (a tuple becomes a
    # list), as a reader of the file will see them.
    return json.loads(encode_json(value, "value", limit)), JSON_VALUE


def encode_value(value: bytes | None) -> StoredValue:
    if value is None:
        return None, None
    try:
        return value.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(value).decode("ascii"), "base64"


def decode_value(text: Any, encoding: Any) -> bytes | None:
    """A stored value as bytes: a JSON value as its compact JSON text."""
    if encoding == JSON_VALUE:
        return json_value_bytes(text)
    if text is None:
        return None
    if not isinstance(text, str):
        raise TypeError("value is not a string")
    if encoding == "utf-8":
        return text.encode("utf-8")
    if encoding == "base64":
        return base64.b64decode(text, validate=True)
    raise ValueError(f"unknown value_encoding {encoding!r}")
