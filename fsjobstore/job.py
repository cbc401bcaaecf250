"""The Job value and its JSON file format (format version 1).

A job file is one JSON object, one top-level key per line so that a person can
read it with ``cat`` and a line-based tool can grep it::

    {
     "format": 1,
     "id": "01JD3Z6M6W4Q8S1V2X3Y4Z5A6B",
     "state": "fulfilled",
     "request": {"url": "https://example.org"},
     "value": "the result",
     "value_encoding": "utf-8",
     "error": null,
     "attempts": 0,
     "created_at": "2026-11-23T14:00:00.123456Z",
     "updated_at": "2026-11-23T14:00:01.654321Z"
    }

A value that is not valid UTF-8 is stored base64-encoded with
``"value_encoding": "base64"``.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .errors import CorruptJobFile, JobTooLarge

FORMAT_VERSION = 1

PENDING = "pending"
RUNNING = "running"
FULFILLED = "fulfilled"
FAILED = "failed"
STATES = (PENDING, RUNNING, FULFILLED, FAILED)
RESOLVED_STATES = (FULFILLED, FAILED)

_encode_compact = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(", ", ": ")).encode
_canonical = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
).encode


_second: tuple[int, str] = (-1, "")


def now_text() -> str:
    """The current UTC wall-clock time as ISO 8601; informational only, never compared."""
    global _second
    sec, usec = divmod(time.time_ns() // 1000, 1_000_000)
    if sec != _second[0]:
        _second = (sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)))
    return f"{_second[1]}.{usec:06d}Z"


def parse_time(text: str) -> datetime:
    if not isinstance(text, str) or not text.endswith("Z"):
        raise ValueError(f"time {text!r} is not ISO 8601 UTC")
    return datetime.fromisoformat(text)


def encode_json(value: Any, what: str, limit: int | None = None) -> str:
    """Serialise a user-given JSON value, or raise TypeError naming *what* is wrong."""
    try:
        text = _encode_compact(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} is not JSON-serialisable: {exc}") from None
    if limit is not None and len(text) > limit:
        raise JobTooLarge(f"{what} is {len(text)} bytes as JSON, the store's limit is {limit}")
    return text


def canonical_json(value: Any) -> str:
    """One spelling per JSON value (sorted keys, no spaces): identity of a target."""
    return _canonical(value)


def to_bytes(value: bytes | str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"a job's value must be bytes or str, not {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class Job:
    """A snapshot of one job as it was on disk when read.

    ``state`` is one of ``pending``, ``running`` (pending with a work lease held),
    ``fulfilled`` or ``failed``. ``value`` is the fulfilment value (bytes) or None.
    ``waiting`` holds the targets still to be told the result, oldest first.
    Times are UTC, as written by the host that made the change.
    """

    id: str
    state: str
    request: Any
    value: bytes | None = None
    error: str | None = None
    attempts: int = 0
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    updated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    waiting: tuple[Any, ...] = ()

    @property
    def resolved(self) -> bool:
        return self.state in RESOLVED_STATES

    @property
    def text(self) -> str | None:
        """The value decoded as UTF-8 (None if there is no value)."""
        return None if self.value is None else self.value.decode("utf-8", "replace")


class Record:
    """A job as stored in its file: parsed once, re-rendered only when it changes."""

    __slots__ = ("fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields

    @classmethod
    def new(cls, job_id: str, request: Any, request_json: str) -> tuple[Record, bytes]:
        """A new pending record and its file's bytes (*request_json* spells *request*)."""
        stamp = now_text()
        head = (
            f'{{\n "format": {FORMAT_VERSION},\n "id": "{job_id}",\n "state": "pending",\n'
            f' "request": {request_json},\n "value": null,\n "value_encoding": null,\n'
            f' "error": null,\n "attempts": 0,\n'
            f' "created_at": "{stamp}",\n "updated_at": "{stamp}"\n}}\n'
        )
        fields = {
            "format": FORMAT_VERSION,
            "id": job_id,
            "state": PENDING,
            "request": request,
            "value": None,
            "value_encoding": None,
            "error": None,
            "attempts": 0,
            "created_at": stamp,
            "updated_at": stamp,
        }
        return cls(fields), head.encode("utf-8")

    @classmethod
    def parse(cls, data: bytes, path: str, expected_id: str) -> Record:
        try:
            fields = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CorruptJobFile(path, f"not JSON ({exc})") from None
        if not isinstance(fields, dict):
            raise CorruptJobFile(path, "not a JSON object")
        version = fields.get("format")
        if version != FORMAT_VERSION:
            raise CorruptJobFile(
                path, f"format version {version!r} is not one this fsjobstore reads ({FORMAT_VERSION})"
            )
        if fields.get("id") != expected_id:
            raise CorruptJobFile(path, f"holds id {fields.get('id')!r}, expected {expected_id!r}")
        if fields.get("state") not in (PENDING, FULFILLED, FAILED):
            raise CorruptJobFile(path, f"unknown state {fields.get('state')!r}")
        if not isinstance(fields.get("attempts"), int):
            raise CorruptJobFile(path, "attempts is not an integer")
        try:
            decode_value(fields.get("value"), fields.get("value_encoding"))
            parse_time(fields["created_at"])
            parse_time(fields["updated_at"])
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise CorruptJobFile(path, f"bad field ({exc})") from None
        return cls(fields)

    @property
    def state(self) -> str:
        return str(self.fields["state"])

    @property
    def attempts(self) -> int:
        return int(self.fields["attempts"])

    def changed(self, **changes: Any) -> Record:
        fields = dict(self.fields)
        fields.update(changes)
        fields["updated_at"] = now_text()
        return Record(fields)

    def resolved(self, state: str, value: bytes | None, error: str | None, attempts: int) -> Record:
        text, encoding = encode_value(value)
        return self.changed(state=state, value=text, value_encoding=encoding, error=error, attempts=attempts)

    def render(self) -> bytes:
        lines = [f" {_encode_compact(k)}: {_encode_compact(v)}" for k, v in self.fields.items()]
        return ("{\n" + ",\n".join(lines) + "\n}\n").encode("utf-8")

    def job(self, state: str | None = None, waiting: tuple[Any, ...] = ()) -> Job:
        f = self.fields
        return Job(
            id=f["id"],
            state=state or f["state"],
            request=f["request"],
            value=decode_value(f["value"], f["value_encoding"]),
            error=f["error"],
            attempts=f["attempts"],
            created_at=parse_time(f["created_at"]),
            updated_at=parse_time(f["updated_at"]),
            waiting=waiting,
        )


def encode_value(value: bytes | None) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    try:
        return value.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(value).decode("ascii"), "base64"


def decode_value(text: Any, encoding: Any) -> bytes | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise TypeError("value is not a string")
    if encoding == "utf-8":
        return text.encode("utf-8")
    if encoding == "base64":
        return base64.b64decode(text, validate=True)
    raise ValueError(f"unknown value_encoding {encoding!r}")
