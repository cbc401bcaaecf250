"""The Job value: a snapshot of one job, as every kind of store returns it."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

PENDING = "pending"
RUNNING = "running"
FULFILLED = "fulfilled"
FAILED = "failed"
CANCELLED = "cancelled"
EXPIRED = "expired"  # not started by its deadline: never run
DISCARDED = "discarded"  # refused by a worker as invalid: never retried
STATES = (PENDING, RUNNING, FULFILLED, FAILED, CANCELLED, EXPIRED, DISCARDED)
RESOLVED_STATES = (FULFILLED, FAILED, CANCELLED, EXPIRED, DISCARDED)
RETRIABLE_STATES = (FAILED, CANCELLED, EXPIRED, DISCARDED)  # what retry() takes back to pending


@dataclass(frozen=True, slots=True)
class Job:
    """A snapshot of one job as it was on disk when read.

    ``state`` is one of ``pending``, ``running`` (pending with a work lease held),
    ``fulfilled``, ``failed``, ``cancelled``, ``expired`` (not started by its
    deadline) or ``discarded`` (refused by a worker). ``value`` is the fulfilment value
    (bytes) or None; ``error`` the error of the last failed attempt. ``attempts``
    counts failed attempts (fail() calls and leases that expired under a dead
    holder); ``history`` tells the last ten attempts (host, pid, times, outcome,
    error and traceback), oldest first. ``waiting`` holds the targets still to be told the result, oldest
    first. Times are UTC, as written by the host that made the change.
    """

    id: str
    state: str
    request: Any
    value: bytes | None = None
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

    @property
    def resolved(self) -> bool:
        return self.state in RESOLVED_STATES

    @property
    def text(self) -> str | None:
        """The value decoded as UTF-8 (None if there is no value)."""
        return None if self.value is None else self.value.decode("utf-8", "replace")

    def to_dict(self) -> dict[str, Any]:
        """The job as plain JSON types, as the CLI and the HTTP API show it: times as
        ISO 8601, the value as text, or ``{"base64": ...}`` if it is not UTF-8."""
        value: Any = None
        if self.value is not None:
            try:
                value = self.value.decode("utf-8")
            except UnicodeDecodeError:
                value = {"base64": base64.b64encode(self.value).decode("ascii")}
        return {
            "id": self.id,
            "state": self.state,
            "task": self.task,
            "resource": self.resource,
            "request": self.request,
            "value": value,
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
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        """The inverse of ``to_dict`` (for clients of the HTTP API)."""
        value = data.get("value")
        if isinstance(value, dict):
            value = base64.b64decode(value["base64"])
        elif isinstance(value, str):
            value = value.encode("utf-8")
        not_before = data.get("not_before")
        return cls(
            id=data["id"], state=data["state"], request=data.get("request"), value=value,
            error=data.get("error"), attempts=int(data.get("attempts", 0)),
            created_at=datetime.fromisoformat(data["created_at"]),
            updated_at=datetime.fromisoformat(data["updated_at"]),
            waiting=tuple(data.get("waiting") or ()), task=data.get("task"), resource=data.get("resource"),
            not_before=None if not_before is None else datetime.fromisoformat(not_before),
            lease_seconds=data.get("lease_seconds"), expires_in=data.get("expires_in"),
            history=tuple(data.get("history") or ()), key=data.get("key"), labels=dict(data.get("labels") or {}),
            priority=int(data.get("priority") or 0),
            deadline=None if data.get("deadline") is None else datetime.fromisoformat(data["deadline"]),
        )
