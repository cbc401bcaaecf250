"""What crosses the wire: jobs as JSON objects, and store errors as JSON error bodies.

Shared by the server and the client and free of third-party imports, so that a
job or an error means the same on both sides.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from .._files.records import encode_value
from ..errors import (
    DuplicateJob,
    InvalidJobId,
    JobAlreadyResolved,
    JobBusy,
    JobNotFound,
    JobStateError,
    JobStoreError,
    JobTooLarge,
    LeaseLost,
)
from ..interface import LossReason
from ..job import Job


class RemoteError(JobStoreError):
    """The server refused a request for a reason no store error names (auth, limits)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message

    def __str__(self) -> str:
        return f"HTTP {self.status}: {self.message}"


class LeaseEnded(LeaseLost):
    """LeaseLost that says why, so that a client's ``lease.loss`` says it too."""

    def __init__(self, message: str, reason: LossReason) -> None:
        super().__init__(message)
        self.reason = reason


def job_to_wire(job: Job) -> dict[str, Any]:
    """A job as a JSON object; a value that is not UTF-8 is sent base64-encoded."""
    value, encoding = encode_value(job.value)
    return {
        "id": job.id,
        "state": job.state,
        "task": job.task,
        "resource": job.resource,
        "request": job.request,
        "value": value,
        "value_encoding": encoding,
        "error": job.error,
        "attempts": job.attempts,
        "waiting": list(job.waiting),
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
        "not_before": None if job.not_before is None else job.not_before.isoformat(),
        "lease_seconds": job.lease_seconds,
        "expires_in": job.expires_in,
        "history": list(job.history),
        "key": job.key,
        "labels": dict(job.labels),
        "priority": job.priority,
        "deadline": None if job.deadline is None else job.deadline.isoformat(),
    }


def job_from_wire(data: dict[str, Any]) -> Job:
    not_before = data.get("not_before")
    return Job(
        id=data["id"],
        state=data["state"],
        request=data["request"],
        value=value_from_wire(data.get("value"), data.get("value_encoding")),
        error=data.get("error"),
        attempts=int(data.get("attempts", 0)),
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
        waiting=tuple(data.get("waiting", ())),
        task=data.get("task"),
        resource=data.get("resource"),
        not_before=None if not_before is None else datetime.fromisoformat(not_before),
        lease_seconds=data.get("lease_seconds"),
        expires_in=data.get("expires_in"),
        history=tuple(data.get("history") or ()),
        key=data.get("key"),
        labels=dict(data.get("labels") or {}),
        priority=int(data.get("priority") or 0),
        deadline=None if data.get("deadline") is None else datetime.fromisoformat(data["deadline"]),
    )


def value_to_wire(value: bytes | str) -> dict[str, str]:
    """A commit's value: text as is, bytes that are not UTF-8 as base64."""
    if isinstance(value, str):
        return {"value": value, "value_encoding": "utf-8"}
    text, encoding = encode_value(bytes(value))
    assert text is not None and encoding is not None
    return {"value": text, "value_encoding": encoding}


def value_from_wire(text: str | None, encoding: str | None) -> bytes | None:
    if text is None:
        return None
    if encoding in (None, "utf-8"):
        return text.encode("utf-8")
    if encoding == "base64":
        return base64.b64decode(text, validate=True)
    raise ValueError(f"value_encoding must be 'utf-8' or 'base64', not {encoding!r}")


# The status each store error is sent with; the first matching class wins.
STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (JobNotFound, 404),
    (JobAlreadyResolved, 409),
    (JobBusy, 409),
    (JobStateError, 409),
    (DuplicateJob, 409),
    (LeaseLost, 410),
    (InvalidJobId, 400),
    (JobTooLarge, 413),
    (ValueError, 422),
    (TypeError, 422),
)


def error_to_wire(exc: BaseException) -> tuple[int, dict[str, Any]] | None:
    """(status, body) for a store error a client caused; None for anything else."""
    for kind, status in STATUS:
        if isinstance(exc, kind):
            detail: dict[str, Any] = {"type": type(exc).__name__}
            for name in ("job_id", "state", "key"):
                if hasattr(exc, name):
                    detail[name] = getattr(exc, name)
            if isinstance(exc, LeaseEnded):
                detail["reason"] = exc.reason.name
            return status, {"error": str(exc), "detail": detail}
    return None


def error_from_wire(status: int, body: Any) -> Exception:
    """The exception a local store would have raised, from an error response."""
    message = body.get("error") if isinstance(body, dict) else None
    detail = body.get("detail") if isinstance(body, dict) else None
    kind = detail.get("type") if isinstance(detail, dict) else None
    text = str(message or f"HTTP {status}")
    if isinstance(detail, dict):
        job_id = str(detail.get("job_id", ""))
        if kind == "JobNotFound":
            return JobNotFound(job_id)
        if kind == "JobAlreadyResolved":
            return JobAlreadyResolved(job_id, str(detail.get("state", "resolved")))
        if kind == "JobBusy":
            return JobBusy(job_id)
        if kind == "DuplicateJob":
            return DuplicateJob(str(detail.get("key", "")), job_id)
        if kind == "LeaseEnded" and detail.get("reason") in LossReason.__members__:
            return LeaseEnded(text, LossReason[detail["reason"]])
    by_name: dict[str | None, type[Exception]] = {
        "JobStateError": JobStateError, "LeaseLost": LeaseLost, "LeaseEnded": LeaseLost, "InvalidJobId": InvalidJobId,
        "JobTooLarge": JobTooLarge, "TypeError": TypeError,
    }
    if kind in by_name:
        return by_name[kind](text)
    if status == 410:
        return LeaseLost(text)
    if status == 422 or kind == "ValueError":
        return ValueError(text)
    return RemoteError(status, text)
