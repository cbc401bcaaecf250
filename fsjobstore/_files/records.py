"""A job's file: its JSON format (format version 1), parsed and rendered.

A job file is one JSON object, one top-level key per line so that a person can
read it with ``cat`` and a line-based tool can grep it (docs/format.md shows one).

A value given as bytes or str is stored as text (``"value_encoding": "utf-8"``),
or base64-encoded (``"base64"``) if it is not valid UTF-8; any other JSON value
(a number, an object...) is stored as itself (``"json"``).
"""

from __future__ import annotations

import binascii
import json
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import CorruptJobFile
from ..job import ON_PARENT_FAILURE, PENDING, RESOLVED_STATES, Job, deferred_job
from . import fsio
from .ids import is_valid_id
from .times import now_text, parse_time
from .values import MAX_DEPTH, StoredValue, decode_value, encode_compact, loads_text

FORMAT_VERSION = 1
# Attempts a record remembers (host, pid, times, outcome, error, traceback of each).
HISTORY_LIMIT = 10

STORED_STATES = (PENDING, *RESOLVED_STATES)  # "running" is never written: a held lease says it

_encode_string = json.encoder.encode_basestring


# Pauses before each re-read of a record that does not parse (Record.load): 1.2 s, > actimeo=1.
REREAD_WAITS = (0.01, 0.04, 0.15, 0.4, 0.6)
# (inode, change time) of files found corrupt after all their re-reads, so that an
# unchanged one is reported at once the next time (bounded: forgotten when full).
_KNOWN_CORRUPT: set[tuple[int, int]] = set()
_KNOWN_CORRUPT_MAX = 1024
RECORD_START = b'{\n "format": '



_REQUIRED = ("request", "value", "value_encoding", "error", "attempts", "created_at", "updated_at")
_REQUIRED_SET = frozenset(_REQUIRED)
# Optional fields and the types they may hold (None always allowed).
_OPTIONAL: dict[str, tuple[type, ...]] = {
    "history": (list,),
    "task": (str,),
    "resource": (str,),
    "not_before": (str,),
    "delay": (int, float),
    "lease_seconds": (int, float),
    "expires_in": (int, float),
    "key": (str,),
    "labels": (dict,),
    "priority": (int,),
    "deadline": (str,),
    "deadline_in": (int, float),
    "workspace": (str,),
    "after": (list,),
    "on_parent_failure": (str,),
}


# known(id, bytes read): the record those bytes are, if the caller knows it (see Record.load).
Known = Callable[[str, bytes], "Record | None"]

# What create() writes only when given (unset: absent, so records without them read as before).
_OPTIONS_SET_ONLY = ("key", "labels", "priority", "deadline", "deadline_in", "after", "on_parent_failure")


# The text of each key a record holds (' "key": '), and of the key with a null value:
# made once per key. Bounded: a record planted with keys of its own fills no memory.
_PREFIXES: dict[str, str] = {}
_NULL_LINES: dict[str, str] = {}
_KEYS_KEPT = 64


def _prefix(key: str) -> str:
    text = f" {_encode_string(key)}: "
    if len(_PREFIXES) < _KEYS_KEPT:
        _PREFIXES[key] = text
    return text


def _null_line(key: str) -> str:
    text = f"{_PREFIXES.get(key) or _prefix(key)}null"
    if len(_NULL_LINES) < _KEYS_KEPT:
        _NULL_LINES[key] = text
    return text


class Record:
    """A job as stored in its file: parsed once, re-rendered only when it changes."""

    __slots__ = ("fields", "_request_json")

    def __init__(self, fields: dict[str, Any], request_json: str | None = None) -> None:
        self.fields = fields
        self._request_json = request_json

    @classmethod
    def new(cls, job_id: str, request: Any, request_json: str, *, task: str | None = None,
            resource: str | None = None, not_before: str | None = None, delay: float | None = None,
            lease_seconds: float | None = None, expires_in: float | None = None, key: str | None = None,
            labels: dict[str, str] | None = None, priority: int = 0, deadline: str | None = None,
            deadline_in: float | None = None, after: list[str] | None = None,
            on_parent_failure: str | None = None) -> Record:
        """A new pending record (*request_json* spells *request*, so it is not re-encoded)."""
        # (named parameters, not **options: this is on every create, and a dict of
        # options and a lookup per field cost as much again as the record)
        stamp = now_text()
        fields: dict[str, Any] = {
            "format": FORMAT_VERSION, "id": job_id, "state": PENDING, "task": task, "resource": resource,
            "request": request, "value": None, "value_encoding": None, "error": None, "attempts": 0,
            "not_before": not_before, "delay": delay, "lease_seconds": lease_seconds, "expires_in": expires_in,
            "created_at": stamp, "updated_at": stamp,
        }
        # Optional fields are written only when set, so records without them stay as they were.
        if key or labels or priority or deadline or deadline_in or after or on_parent_failure:
            for name, value in zip(_OPTIONS_SET_ONLY, (key, labels, priority, deadline, deadline_in, after,
                                                       on_parent_failure), strict=True):
                if value:
                    fields[name] = value
        return cls(fields, request_json)

    @classmethod
    def parse(cls, data: bytes, path: str, expected_id: str) -> Record:
        try:
            try:
                # (as text: json.loads of bytes first works out their encoding, in Python)
                fields = loads_text(data.decode("utf-8"))
            except UnicodeDecodeError:
                fields = json.loads(data)  # UTF-16 or 32, as json reads them; else not JSON
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
        if not fields.keys() >= _REQUIRED_SET:
            raise CorruptJobFile(path, f"missing {', '.join(name for name in _REQUIRED if name not in fields)}")
        if not isinstance(fields["attempts"], int) or isinstance(fields["attempts"], bool):
            raise CorruptJobFile(path, "attempts is not an integer")
        get = fields.get
        for name, types in _OPTIONAL.items():
            if (value := get(name)) is not None and not isinstance(value, types):
                raise CorruptJobFile(path, f"{name} is not a {types[0].__name__}")
        after = fields.get("after")
        if after is not None and not all(isinstance(parent, str) and is_valid_id(parent) for parent in after):
            raise CorruptJobFile(path, "after is not a list of job ids")
        if (on_failure := fields.get("on_parent_failure")) is not None and on_failure not in ON_PARENT_FAILURE:
            raise CorruptJobFile(path, f"on_parent_failure is not one of {', '.join(ON_PARENT_FAILURE)}")
        try:
            decode_value(fields["value"], fields["value_encoding"])
            parse_time(fields["created_at"])
            if fields["updated_at"] != fields["created_at"]:
                parse_time(fields["updated_at"])
            for name in ("not_before", "deadline"):
                if fields.get(name) is not None:
                    parse_time(fields[name])
        # (not `exc`: mypyc types a name by its first handler)
        except (KeyError, TypeError, ValueError, binascii.Error) as bad:
            raise CorruptJobFile(path, f"bad field ({bad})") from None
        return cls(fields, _request_line(data))

    @classmethod
    def load(cls, path: str, expected_id: str, known: Known | None = None) -> Record:
        """Read and parse the record at *path*; FileNotFoundError if absent.

        One that does not parse is read again before it is called corrupt: over
        NFS (and FUSE) a client whose cached attributes are stale reads a record
        just replaced on another host cut short, until the cache expires. A record
        cut short (it begins as records begin, and does not end as they end) is
        re-read for longer than a one-second attribute cache, the first time this
        process finds that file so; anything else once.

        *known* may tell the record its file holds without a parse: given the id and
        the bytes read, the record they are (as ``Written.recall``), or None."""
        waits: tuple[float, ...] = REREAD_WAITS
        for attempt in range(len(waits) + 1):
            data = fsio.read(path)
            if known is not None and attempt == 0 and (record := known(expected_id, data)) is not None:
                return record
            try:
                return cls.parse(data, path, expected_id)
            except CorruptJobFile:
                if attempt == 0:
                    identity = fsio.identity(path)
                    if identity in _KNOWN_CORRUPT or not (data.startswith(RECORD_START)
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
    def request_json(self) -> str | None:
        return self._request_json

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

    def outcomes(self) -> tuple[tuple[str, int], ...]:
        """The outcomes the attempt history records, each with its entries, sorted."""
        counted = Counter(str(item.get("outcome")) for item in self.fields.get("history") or ()
                          if isinstance(item, dict))
        return tuple(sorted(counted.items()))

    def deadline(self) -> float | None:
        """The wall-clock time (seconds since the epoch) by which the job must have
        started, if it was given as one (a datetime)."""
        text = self.fields.get("deadline")
        return None if text is None else parse_time(text).timestamp()

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
        """This record with *changes*, updated now (or at the ``updated_at`` they give)."""
        fields = dict(self.fields)
        fields.update(changes)
        if "updated_at" not in changes:
            fields["updated_at"] = now_text()
        return Record(fields, self._request_json)

    def with_attempt(self, entry: dict[str, Any], **changes: Any) -> Record:
        """This record with *entry* added to its attempt history (the newest
        ``HISTORY_LIMIT`` are kept, so a record's size stays bounded) and *changes*,
        updated when the attempt ended (one reading of the clock for both)."""
        history = [*(self.fields.get("history") or ()), entry][-HISTORY_LIMIT:]
        return self.changed(history=history, updated_at=entry["ended_at"], **changes)

    def resolved(self, state: str, value: StoredValue, error: str | None, attempts: int,
                 entry: dict[str, Any] | None = None) -> Record:
        """The record resolved (with the attempt *entry* added to its history, if given)."""
        text, encoding = value
        # (a resolved job is never pulled: a delay left from its last retry would only mislead a reader)
        changes = {"state": state, "value": text, "value_encoding": encoding, "error": error, "attempts": attempts,
                   "not_before": None, "delay": None}
        return self.changed(**changes) if entry is None else self.with_attempt(entry, **changes)

    def render(self) -> bytes:
        return ("{\n" + ",\n".join(self._lines()) + "\n}\n").encode("utf-8")

    def _lines(self) -> list[str]:
        request_json = self._request_json
        lines: list[str] = []
        append = lines.append
        for key, value in self.fields.items():
            # (the common types inline, each key's text made once: a record is rendered
            # on every state change)
            if value is None:
                append(_NULL_LINES.get(key) or _null_line(key))
                continue
            prefix = _PREFIXES.get(key) or _prefix(key)
            if key == "request" and request_json is not None:
                append(prefix + request_json)
            elif type(value) is str:
                append(prefix + _encode_string(value))
            elif type(value) is int:
                append(prefix + str(value))
            else:
                append(prefix + encode_compact(value))
        return lines

    def sibling(self, job_id: str, request: Any, request_json: str) -> Record:
        """A new record as this one (a new pending record) but for its id and request:
        another job of one batch, with the same options and times."""
        fields = self.fields.copy()
        fields["id"], fields["request"] = job_id, request
        return Record(fields, request_json)

    def sibling_renderer(self) -> Callable[[str, str], bytes]:
        """``render`` of a sibling from its id and request JSON alone: the rest of the
        text, the same for the whole batch, is rendered once, here."""
        lines, names = self._lines(), list(self.fields)
        at_id, at_request = names.index("id"), names.index("request")  # (a record begins with format, then id)
        head = "{\n" + ",\n".join(lines[:at_id]) + ',\n "id": "'
        middle = '",\n' + ",\n".join(lines[at_id + 1 : at_request]) + ',\n "request": '
        tail = ",\n" + ",\n".join(lines[at_request + 1 :]) + "\n}\n"
        # (an id is of ASCII letters, digits, - and _: its JSON string is itself, quoted)
        return lambda job_id, request_json: f"{head}{job_id}{middle}{request_json}{tail}".encode()

    def job(self, state: str | None = None, waiting: tuple[Any, ...] = (),
            failed_deliveries: tuple[dict[str, Any], ...] = ()) -> Job:
        """The job as this record holds it (worked out when the caller first reads it)."""
        return deferred_job(lambda: self._job(state, waiting, failed_deliveries))

    def _job(self, state: str | None, waiting: tuple[Any, ...], failed_deliveries: tuple[dict[str, Any], ...]) -> Job:
        f = self.fields
        updated_text, created_text = f["updated_at"], f["created_at"]
        updated_at = parse_time(updated_text)
        not_before = f.get("not_before")
        history = f.get("history")
        return Job(
            id=f["id"],
            state=state or f["state"],
            request=f["request"],
            value=decode_value(f["value"], f["value_encoding"]),
            value_encoding=f["value_encoding"],
            error=f["error"],
            attempts=f["attempts"],
            created_at=updated_at if created_text == updated_text else parse_time(created_text),
            updated_at=updated_at,
            waiting=waiting,
            failed_deliveries=failed_deliveries,
            task=f.get("task"),
            resource=f.get("resource"),
            not_before=parse_time(not_before) if not_before is not None else _after(updated_at, f.get("delay")),
            lease_seconds=f.get("lease_seconds"),
            expires_in=f.get("expires_in"),
            history=tuple(history) if history else (),
            key=f.get("key"),
            labels=dict(f.get("labels") or {}),
            priority=f.get("priority") or 0,
            deadline=(parse_time(f["deadline"]) if f.get("deadline")
                      else _after(updated_at, f["deadline_in"]) if f.get("deadline_in") else None),
            progress=f.get("progress"),
            after=tuple(f.get("after") or ()),
            on_parent_failure=f.get("on_parent_failure") or "cancel",
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
