"""A job's file: its JSON format (format version 1), parsed and rendered.

A job file is one JSON object, one top-level key per line so that a person can
read it with ``cat`` and a line-based tool can grep it::

    {
     "format": 1,
     "id": "01JD3Z6M6W4Q8S1V2X3Y4Z5A6B",
     "state": "fulfilled",
     "task": null,
     "resource": null,
     "request": {"url": "https://example.org"},
     "value": "the result",
     "value_encoding": "utf-8",
     "error": null,
     "attempts": 0,
     "not_before": null,
     "delay": null,
     "lease_seconds": null,
     "expires_in": null,
     "created_at": "2026-11-23T14:00:00.123456Z",
     "updated_at": "2026-11-23T14:00:01.654321Z"
    }

A value given as bytes or str is stored as text (``"value_encoding": "utf-8"``),
or base64-encoded (``"base64"``) if it is not valid UTF-8; any other JSON value
(a number, an object...) is stored as itself (``"json"``).
"""

from __future__ import annotations

import binascii
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import CorruptJobFile
from ..job import PENDING, RESOLVED_STATES, Job
from . import fsio
from .values import MAX_DEPTH, StoredValue, decode_value, encode_compact

FORMAT_VERSION = 1
# Attempts a record remembers (host, pid, times, outcome, error, traceback of each).
HISTORY_LIMIT = 10

STORED_STATES = (PENDING, *RESOLVED_STATES)  # "running" is never written: a held lease says it

_encode_string = json.encoder.encode_basestring


_second: tuple[int, str] = (-1, "")
# The pauses before each re-read of a record that does not parse (see Record.load):
# 1.2 s in all, longer than the attribute cache the docs recommend (actimeo=1).
REREAD_WAITS = (0.01, 0.04, 0.15, 0.4, 0.6)
# (inode, change time) of files found corrupt after all their re-reads, so that an
# unchanged one is reported at once the next time (bounded: forgotten when full).
_KNOWN_CORRUPT: set[tuple[int, int]] = set()
_KNOWN_CORRUPT_MAX = 1024
_RECORD_START = b'{\n "format": '



def _value_json(value: Any) -> str:
    # The common field types without the encoder's per-call overhead; a record
    # is rendered on every state change. (Keys are ours: plain ASCII names.)
    if value is None:
        return "null"
    kind = type(value)
    if kind is str:
        return _encode_string(value)
    if kind is int:
        return str(value)
    return encode_compact(value)


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


_REQUIRED = ("request", "value", "value_encoding", "error", "attempts", "created_at", "updated_at")
# Optional fields and the types they may hold (None always allowed).
_OPTIONAL: dict[str, tuple[type, ...]] = {
    "history": (list,),
    "task": (str,),
    "resource": (str,),
    "not_before": (str,),
    "delay": (int, float),
    "lease_seconds": (int, float),
    "expires_in": (int, float),
    "workspace": (str,),
}


class Record:
    """A job as stored in its file: parsed once, re-rendered only when it changes."""

    __slots__ = ("fields", "_request_json")

    def __init__(self, fields: dict[str, Any], request_json: str | None = None) -> None:
        self.fields = fields
        self._request_json = request_json

    @classmethod
    def new(cls, job_id: str, request: Any, request_json: str, **options: Any) -> Record:
        """A new pending record (*request_json* spells *request*, so it is not re-encoded)."""
        stamp = now_text()
        fields: dict[str, Any] = {"format": FORMAT_VERSION, "id": job_id, "state": PENDING}
        fields.update({name: options.get(name) for name in ("task", "resource")})
        fields.update(
            request=request, value=None, value_encoding=None, error=None, attempts=0,
            not_before=options.get("not_before"), delay=options.get("delay"),
            lease_seconds=options.get("lease_seconds"),
            expires_in=options.get("expires_in"), created_at=stamp, updated_at=stamp,
        )
        return cls(fields, request_json)

    @classmethod
    def parse(cls, data: bytes, path: str, expected_id: str) -> Record:
        try:
            fields = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CorruptJobFile(path, f"not JSON ({exc})") from None
        except RecursionError:
            raise CorruptJobFile(path, f"nested deeper than the {MAX_DEPTH} levels a job may have") from None
        if not isinstance(fields, dict):
            raise CorruptJobFile(path, "not a JSON object")
        version = fields.get("format")
        if version != FORMAT_VERSION:
            raise CorruptJobFile(
                path, f"format version {version!r} is not one this fsjobstore reads ({FORMAT_VERSION})"
            )
        if fields.get("id") != expected_id:
            raise CorruptJobFile(path, f"holds id {fields.get('id')!r}, expected {expected_id!r}")
        if fields.get("state") not in STORED_STATES:
            raise CorruptJobFile(path, f"unknown state {fields.get('state')!r}")
        missing = [name for name in _REQUIRED if name not in fields]
        if missing:
            raise CorruptJobFile(path, f"missing {', '.join(missing)}")
        if not isinstance(fields["attempts"], int) or isinstance(fields["attempts"], bool):
            raise CorruptJobFile(path, "attempts is not an integer")
        for name, types in _OPTIONAL.items():
            if fields.get(name) is not None and not isinstance(fields[name], types):
                raise CorruptJobFile(path, f"{name} is not a {types[0].__name__}")
        try:
            decode_value(fields.get("value"), fields.get("value_encoding"))
            parse_time(fields["created_at"])
            parse_time(fields["updated_at"])
            if fields.get("not_before") is not None:
                parse_time(fields["not_before"])
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise CorruptJobFile(path, f"bad field ({exc})") from None
        return cls(fields, _request_line(data))

    @classmethod
    def load(cls, path: str, expected_id: str) -> Record:
        """Read and parse the record at *path*; FileNotFoundError if absent.

        One that does not parse is read again before it is called corrupt: over
        NFS (and FUSE) a client whose cached attributes are stale reads a record
        just replaced on another host cut short, until the cache expires. A record
        cut short (it begins as records begin, and does not end as they end) is
        re-read for longer than a one-second attribute cache, the first time this
        process finds that file so; anything else once."""
        waits: tuple[float, ...] = REREAD_WAITS
        for attempt in range(len(waits) + 1):
            data = fsio.read(path)
            try:
                return cls.parse(data, path, expected_id)
            except CorruptJobFile:
                if attempt == 0:
                    identity = fsio.identity(path)
                    if identity in _KNOWN_CORRUPT or not (data.startswith(_RECORD_START)
                                                          and not data.endswith(b"}\n")):
                        waits = waits[:1]
                if attempt >= len(waits):
                    if len(_KNOWN_CORRUPT) >= _KNOWN_CORRUPT_MAX:
                        _KNOWN_CORRUPT.clear()
                    if identity is not None:
                        _KNOWN_CORRUPT.add(identity)
                    raise
                time.sleep(waits[attempt])
        raise AssertionError("unreachable")

    @property
    def id(self) -> str:
        return str(self.fields["id"])

    @property
    def state(self) -> str:
        return str(self.fields["state"])

    @property
    def attempts(self) -> int:
        return int(self.fields["attempts"])

    def get(self, name: str) -> Any:
        return self.fields.get(name)

    def not_before(self) -> float | None:
        """The earliest wall-clock time (seconds since the epoch) the job may be worked
        on, if it was given as one (a datetime)."""
        text = self.fields.get("not_before")
        return None if text is None else parse_time(text).timestamp()

    @property
    def delay(self) -> float:
        """Seconds after its file was written (the file's mtime) before the job may be
        worked on: a relative delay, judged on the filesystem's clock."""
        return float(self.fields.get("delay") or 0.0)

    def changed(self, **changes: Any) -> Record:
        fields = dict(self.fields)
        fields.update(changes)
        fields["updated_at"] = now_text()
        return Record(fields, self._request_json)

    def with_attempt(self, entry: dict[str, Any]) -> Record:
        """This record with *entry* added to its attempt history (the newest
        ``HISTORY_LIMIT`` are kept, so a record's size stays bounded)."""
        history = [*(self.fields.get("history") or ()), entry][-HISTORY_LIMIT:]
        return self.changed(history=history)

    def resolved(self, state: str, value: StoredValue, error: str | None, attempts: int) -> Record:
        text, encoding = value
        # (a resolved job is never pulled: a delay left from its last retry would only mislead a reader)
        return self.changed(
            state=state, value=text, value_encoding=encoding, error=error, attempts=attempts, not_before=None,
            delay=None,
        )

    def render(self) -> bytes:
        request_json = self._request_json
        lines = [
            f' "{k}": {request_json if k == "request" and request_json is not None else _value_json(v)}'
            for k, v in self.fields.items()
        ]
        return ("{\n" + ",\n".join(lines) + "\n}\n").encode("utf-8")

    def job(self, state: str | None = None, waiting: tuple[Any, ...] = (),
            failed_deliveries: tuple[dict[str, Any], ...] = ()) -> Job:
        f = self.fields
        updated_at = parse_time(f["updated_at"])
        not_before = f.get("not_before")
        return Job(
            id=f["id"],
            state=state or f["state"],
            request=f["request"],
            value=decode_value(f["value"], f["value_encoding"]),
            value_encoding=f["value_encoding"],
            error=f["error"],
            attempts=f["attempts"],
            created_at=parse_time(f["created_at"]),
            updated_at=updated_at,
            waiting=waiting,
            failed_deliveries=failed_deliveries,
            task=f.get("task"),
            resource=f.get("resource"),
            not_before=parse_time(not_before) if not_before is not None else _after(updated_at, f.get("delay")),
            lease_seconds=f.get("lease_seconds"),
            expires_in=f.get("expires_in"),
            history=tuple(f.get("history") or ()),
            progress=f.get("progress"),
        )


_REQUEST_START = b'\n "request": '
_REQUEST_END = b',\n "value": '


def _request_line(data: bytes) -> str | None:
    """The request's JSON text as our renderer wrote it (one key per line), so that
    a record rewritten later need not encode the request again; None for a file
    laid out otherwise (edited by hand), whose request is then re-encoded."""
    start = data.find(_REQUEST_START)
    if start < 0:
        return None
    start += len(_REQUEST_START)
    end = data.find(b"\n", start)
    if end < 0 or not data.startswith(_REQUEST_END, end - 1):
        return None
    if data.find(_REQUEST_START, end) >= 0:
        return None  # a key given twice: JSON keeps the last, so do not guess
    try:
        return data[start : end - 1].decode("utf-8")
    except UnicodeDecodeError:
        return None


def _after(start: datetime, delay: Any) -> datetime | None:
    """When a relative delay ends, as the writer's clock saw it (informational: the
    delay itself is judged on the filesystem's clock)."""
    if not delay:
        return None
    try:
        return start + timedelta(seconds=delay)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def time_text(timestamp: float) -> str:
    """Seconds since the epoch as the ISO 8601 UTC text the files hold."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
