"""The Job value: a snapshot of one job, as every kind of store returns it."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

PENDING = "pending"
BLOCKED = "blocked"  # pending, waiting for its parents (create(after=...)): in no queue yet
RUNNING = "running"
FULFILLED = "fulfilled"
FAILED = "failed"
CANCELLED = "cancelled"
EXPIRED = "expired"  # not started by its deadline: never run
DISCARDED = "discarded"  # refused by a worker as invalid: never retried
STATES = (PENDING, BLOCKED, RUNNING, FULFILLED, FAILED, CANCELLED, EXPIRED, DISCARDED)
RESOLVED_STATES = (FULFILLED, FAILED, CANCELLED, EXPIRED, DISCARDED)
RETRIABLE_STATES = (FAILED, CANCELLED, EXPIRED, DISCARDED)  # what retry() takes back to pending
# What a job created after others does when one of them ends otherwise than fulfilled:
# resolve as cancelled with the reason (the default), or run once every parent is resolved.
ON_PARENT_FAILURE = ("cancel", "run")

_json_text = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(", ", ": ")).encode


def json_value_bytes(value: Any) -> bytes:
    """A JSON value's text, as ``Job.value`` holds a value that was fulfilled as JSON."""
    return _json_text(value).encode("utf-8")


@dataclass(frozen=True, slots=True)
class Job:
    """A snapshot of one job as it was on disk when read.

    ``state`` is one of ``pending``, ``blocked`` (waiting for its parents, the jobs
    in ``after``), ``running`` (pending with a work lease held),
    ``fulfilled``, ``failed``, ``cancelled``, ``expired`` (not started by its
    deadline) or ``discarded`` (refused by a worker). ``value`` is the fulfilment value
    as bytes (a JSON value as its JSON text) or None, and ``result`` the value as it
    was given (str, bytes or a JSON value); ``error`` the error of the last failed attempt. ``attempts``
    counts failed attempts (fail() calls and leases that expired under a dead
    holder); ``history`` tells the last ten attempts (host, pid, times, outcome,
    error and traceback), oldest first. ``progress`` is the last progress its
    handler reported (any JSON; None: none), the checkpoint a retry starts from.
    ``after`` holds the ids of its parents, the jobs it waited for (``create(after=...)``),
    and ``on_parent_failure`` what a parent that ends otherwise than fulfilled does to it.
    ``waiting`` holds the targets still to be told the result, oldest
    first; ``failed_deliveries`` each target whose delivery failed (``target``,
    ``failures``, ``last_error``, ``last_failed_at``, and ``given_up``: no longer
    waiting, its failures reached the notifier's limit). Times are UTC, as written by the host that made the change.
    """

    id: str
    state: str
    request: Any
    value: bytes | None = None
    value_encoding: str | None = None
    error: str | None = None
    attempts: int = 0
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    waiting: tuple[Any, ...] = ()
    task: str | None = None
    resource: str | None = None
    not_before: datetime | None = None
    lease_seconds: float | None = None
    expires_in: float | None = None
    history: tuple[dict[str, Any], ...] = ()
    key: str | None = None  # create(key=...): no other job has it until this one is purged
    labels: dict[str, str] = field(default_factory=dict)  # free-form; "to" addresses the job (pull_work(to=...))
    priority: int = 0  # higher first
    deadline: datetime | None = None  # not started by then: expired (a relative one: as the writer's clock saw it)
    failed_deliveries: tuple[dict[str, Any], ...] = ()
    progress: Any = None
    after: tuple[str, ...] = ()
    on_parent_failure: str = "cancel"

    @property
    def resolved(self) -> bool:
        return self.state in RESOLVED_STATES

    @property
    def text(self) -> str | None:
        """The value decoded as UTF-8 (None if there is no value)."""
        return None if self.value is None else self.value.decode("utf-8", "replace")

    @property
    def result(self) -> Any:
        """The value as it was given: a JSON value as itself, text as str, bytes that
        are not UTF-8 as bytes; None if there is no value."""
        value, encoding = self._stored_value()
        return base64.b64decode(value) if encoding == "base64" else value

    def _stored_value(self) -> tuple[Any, str | None]:
        """(value, value_encoding) as the job's file holds them."""
        if self.value is None:
            return None, None
        if self.value_encoding == "json":
            return json.loads(self.value), "json"
        try:
            return self.value.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            return base64.b64encode(self.value).decode("ascii"), "base64"

    def to_dict(self) -> dict[str, Any]:
        """The job as plain JSON types, as the job's file, the CLI and the HTTP API
        show it: times as ISO 8601, ``value`` and ``value_encoding`` as in the file."""
        value, encoding = self._stored_value()
        return {
            "id": self.id,
            "state": self.state,
            "task": self.task,
            "resource": self.resource,
            "request": self.request,
            "value": value,
            "value_encoding": encoding,
            "error": self.error,
            "attempts": self.attempts,
            "waiting": list(self.waiting),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "not_before": self.not_before.isoformat() if self.not_before else None,
            "lease_seconds": self.lease_seconds,
            "expires_in": self.expires_in,
            "history": list(self.history),
            "key": self.key,
            "labels": dict(self.labels),
            "priority": self.priority,
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "failed_deliveries": list(self.failed_deliveries),
            "progress": self.progress,
            "after": list(self.after),
            "on_parent_failure": self.on_parent_failure,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        """The inverse of ``to_dict`` (for clients of the HTTP API); ValueError for a
        value it cannot decode."""
        value, encoding = data.get("value"), data.get("value_encoding")
        if encoding == "json":
            value = json_value_bytes(value)
        elif value is None:
            encoding = None
        elif encoding == "base64":
            value = base64.b64decode(value, validate=True)
        elif encoding in (None, "utf-8") and isinstance(value, str):
            value = value.encode("utf-8")
        else:
            raise ValueError(f"value_encoding must be 'utf-8', 'base64' or 'json', not {encoding!r}")
        not_before = data.get("not_before")
        return cls(
            id=data["id"], state=data["state"], request=data.get("request"), value=value, value_encoding=encoding,
            error=data.get("error"), attempts=int(data.get("attempts", 0)),
            created_at=datetime.fromisoformat(data["created_at"]),
            updated_at=datetime.fromisoformat(data["updated_at"]),
            waiting=tuple(data.get("waiting") or ()), task=data.get("task"), resource=data.get("resource"),
            not_before=None if not_before is None else datetime.fromisoformat(not_before),
            lease_seconds=data.get("lease_seconds"), expires_in=data.get("expires_in"),
            history=tuple(data.get("history") or ()), key=data.get("key"), labels=dict(data.get("labels") or {}),
            priority=int(data.get("priority") or 0),
            deadline=None if data.get("deadline") is None else datetime.fromisoformat(data["deadline"]),
            failed_deliveries=tuple(data.get("failed_deliveries") or ()), progress=data.get("progress"),
            after=tuple(data.get("after") or ()), on_parent_failure=data.get("on_parent_failure") or "cancel",
        )


_FIELDS = tuple(f.name for f in fields(Job))
_FIELD_SET = frozenset(_FIELDS)


class _Deferred(Job):
    """A Job whose fields are worked out when one is first read: most callers of
    create() and fulfill() never look at the Job they get back, and making one costs
    more than the rest of either call's Python. The values are fixed when it is made
    (*make* reads an immutable record), so it is the same snapshot, only later."""

    __slots__ = ("_make",)

    def __getattr__(self, name: str) -> Any:
        # (Called only for an attribute not found: a field's slot before the first read.)
        if name not in _FIELD_SET:
            raise AttributeError(name)
        made = self._make()
        for field_name in _FIELDS:
            object.__setattr__(self, field_name, getattr(made, field_name))
        return getattr(made, name)

    def _plain(self) -> Job:
        return Job(**{name: getattr(self, name) for name in _FIELDS})

    # As a Job made directly compares, prints, hashes, copies and pickles.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Job):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in _FIELDS)

    __hash__ = Job.__hash__

    def __repr__(self) -> str:
        return repr(self._plain())

    def __reduce_ex__(self, protocol: Any) -> Any:
        return Job, tuple(getattr(self, name) for name in _FIELDS)


def deferred_job(make: Callable[[], Job]) -> Job:
    """A Job equal to what *make* returns, which is called when a field is first read."""
    job = object.__new__(_Deferred)
    object.__setattr__(job, "_make", make)
    return job
