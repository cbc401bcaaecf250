"""Job creation: a new pending record, published in one atomic step."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .._arguments import check_seconds
from .._files.ids import new_id
from .._files.records import Record, time_text
from .._files.values import encode_json
from ..job import Job
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
) -> Job:
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
        new_id(), request, request_json, task=task, resource=resource,
        not_before=None if start is None else time_text(start), delay=delay,
        expires_in=expires_in, lease_seconds=lease_seconds,
    )
    ctx.write_pending(record)
    return record.job()


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
