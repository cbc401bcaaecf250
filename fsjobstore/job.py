"""The Job value: a snapshot of one job, as every kind of store returns it."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

PENDING = "pending"
RUNNING = "running"
FULFILLED = "fulfilled"
FAILED = "failed"
CANCELLED = "cancelled"
STATES = (PENDING, RUNNING, FULFILLED, FAILED, CANCELLED)
RESOLVED_STATES = (FULFILLED, FAILED, CANCELLED)

_json_text = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(", ", ": ")).encode


def json_value_bytes(value: Any) -> bytes:
    """A JSON value's text, as ``Job.value`` holds a value that was fulfilled as JSON."""
    return _json_text(value).encode("utf-8")


@dataclass(frozen=True, slots=True)
class Job:
    """A snapshot of one job as it was on disk when read.

    ``state`` is one of ``pending``, ``running`` (pending with a work lease held),
    ``fulfilled``, ``failed`` or ``cancelled``. ``value`` is the fulfilment value
    as bytes (a JSON value as its JSON text) or None, and ``result`` the value as it
    was given (str, bytes or a JSON value); ``error`` the error of the last failed attempt. ``attempts``
    counts failed attempts (fail() calls and leases that expired under a dead
    holder); ``history`` tells the last ten attempts (host, pid, times, outcome,
    error and traceback), oldest first. ``progress`` is the last progress its
    handler reported (any JSON; None: none), the checkpoint a retry starts from.
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
    failed_deliveries: tuple[dict[str, Any], ...] = ()
    progress: Any = None

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
            "failed_deliveries": list(self.failed_deliveries),
            "progress": self.progress,
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
            history=tuple(data.get("history") or ()),
            failed_deliveries=tuple(data.get("failed_deliveries") or ()), progress=data.get("progress"),
        )
