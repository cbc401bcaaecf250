"""What crosses the wire: jobs as JSON objects, and store errors as JSON error bodies.

Shared by the server and the client and free of third-party imports, so that a
job or an error means the same on both sides.
"""

from __future__ import annotations

import base64
from typing import Any

from .._files.values import store_value
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
    UnknownParent,
)
from ..interface import LossReason


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


def value_to_wire(value: Any) -> dict[str, Any]:
    """A commit's value as the job's file holds it: text as is, bytes that are not
    UTF-8 as base64, any other JSON value as itself."""
    stored, encoding = store_value(value, None)
    return {"value": stored, "value_encoding": encoding}


def value_from_wire(value: Any, encoding: str) -> Any:
    """The value a client committed, as it gave it (ValueError naming what is wrong)."""
    if encoding == "json":
        return value
    if not isinstance(value, str):
        raise ValueError(f"a value with value_encoding {encoding!r} must be a string")
    if encoding == "base64":
        return base64.b64decode(value, validate=True)
    return value



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
        if kind == "UnknownParent":
            return UnknownParent(job_id)
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
