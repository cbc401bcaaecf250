"""Job creation: a new pending record, published in one atomic step; under an id the
caller picked, at most once (a create retried after its reply was lost)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from .._arguments import check_seconds
from .._files.ids import check_new_id, new_id
from .._files.records import Record, time_text
from .._files.values import encode_json
from ..errors import JobStateError
from ..job import Job
from .adoption import publish_pending
from .context import StoreContext


def create(
    ctx: StoreContext,
    request: Any,
    *,
    task: str | None = None,
    resource: str | None = None,
    not_before: datetime | timedelta | float | None = None,
    expires_in: float | None = None,
    lease_seconds: float | None = None,
    job_id: str | None = None,
    before_publish: Callable[[str], object] | None = None,
) -> Job:
    if job_id is not None:
        check_new_id(job_id)
    request_json = encode_json(request, "request", ctx.options.max_bytes)
    for name, text in (("task", task), ("resource", resource)):
        if text is not None and (not isinstance(text, str) or not text):
            raise TypeError(f"{name} must be a non-empty string, not {text!r}")
    if expires_in is not None:
        check_seconds("expires_in", expires_in)
    if lease_seconds is not None:
        check_seconds("lease_seconds", lease_seconds)
    start, delay = _start(not_before)
    record = Record.new(
        job_id or new_id(), request, request_json, task=task, resource=resource,
        not_before=None if start is None else time_text(start), delay=delay,
        expires_in=expires_in, lease_seconds=lease_seconds,
    )
    if before_publish is not None:  # (a workspace's input, moved in while no worker can see the job)
        before_publish(record.id)
    if job_id is None:
        ctx.write_pending(record)
        return record.job()
    return _create_once(ctx, record)


# What must match for a create under an existing id to be a retry of the one that made it.
SAME_CREATE = ("request", "task", "resource", "not_before", "delay", "expires_in", "lease_seconds")


def _create_once(ctx: StoreContext, record: Record) -> Job:
    """Publish *record* unless its id exists (create-if-absent). A job already made
    under this id by the same create is returned as it is now; by another, refused."""
    if publish_pending(ctx, record):
        return record.job()
    job_id = record.id
    existing, state = ctx.read(job_id)
    different = [name for name in SAME_CREATE if existing.get(name) != record.get(name)]
    if different:
        raise JobStateError(f"job id {job_id!r} is taken by a job with another {', '.join(different)}: "
                            "a new job needs a new id")
    return ctx.job(existing, state)


def _start(when: datetime | timedelta | float | None) -> tuple[float | None, float | None]:
    """(absolute wall-clock start, relative delay in seconds): a datetime is the
    first, a timedelta or a number of seconds the second."""
    if when is None:
        return None, None
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError("not_before must be a timezone-aware datetime")
        return when.timestamp(), None
    seconds = when.total_seconds() if isinstance(when, timedelta) else when
    return None, check_seconds("not_before", seconds, zero=True) or None
