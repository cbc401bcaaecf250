"""Job creation: a new pending record, published in one atomic step; under an id the
caller picked, at most once (a create retried after its reply was lost)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from .._arguments import check_labels, check_seconds
from .._files.ids import check_new_id, new_id
from .._files.queues import check_priority, id_suffix
from .._files.records import Record, time_text
from .._files.values import encode_json
from ..errors import JobStateError
from ..job import Job
from . import keys
from .adoption import publish_pending
from .context import StoreContext
from .dependencies import check_after


def create(
    ctx: StoreContext,
    request: Any,
    *,
    task: str | None = None,
    resource: str | None = None,
    not_before: datetime | timedelta | float | None = None,
    expires_in: float | None = None,
    lease_seconds: float | None = None,
    key: str | None = None,
    on_conflict: str = "return",
    labels: Mapping[str, str] | None = None,
    priority: int = 0,
    deadline: datetime | timedelta | float | None = None,
    job_id: str | None = None,
    before_publish: Callable[[str], object] | None = None,
    after: Sequence[str] | None = None,
    on_parent_failure: str = "cancel",
) -> Job:
    if job_id is not None:
        check_new_id(job_id)
    waits = {} if after is None and on_parent_failure == "cancel" else check_after(ctx, after, on_parent_failure, key)
    request_json = encode_json(request, "request", ctx.options.max_bytes)
    labels = check_labels(labels) if labels is not None else {}
    if priority:
        check_priority(priority)
    for name, text in (("task", task), ("resource", resource)):
        if text is not None and (not isinstance(text, str) or not text):
            raise TypeError(f"{name} must be a non-empty string, not {text!r}")
    if expires_in is not None:
        check_seconds("expires_in", expires_in)
    if lease_seconds is not None:
        check_seconds("lease_seconds", lease_seconds)
    if key is not None or on_conflict != "return":
        keys.check_key(key, on_conflict)
    if key is not None and on_conflict == "extend" and not_before is None:
        raise ValueError("on_conflict='extend' sets the delay of the job with the key: give not_before")
    start, delay = _start(not_before)
    start_text = None if start is None else time_text(start)
    by, deadline_in = _start(deadline, "deadline", zero=False) if deadline is not None else (None, None)
    queue = id_suffix(labels.get("to"), priority) if labels or priority else ""
    record = Record.new(
        (job_id or new_id()) + queue, request, request_json, task=task,
        resource=resource, not_before=start_text, delay=delay, expires_in=expires_in, lease_seconds=lease_seconds,
        key=key, labels=labels, priority=priority, deadline=None if by is None else time_text(by),
        deadline_in=deadline_in, **waits,
    )
    if before_publish is not None:  # (a workspace's input, moved in while no worker can see the job)
        before_publish(record.id)
    if key is not None:
        changes = {"request": request, "request_json": request_json, "not_before": start_text, "delay": delay}
        return keys.create(ctx, record, on_conflict, changes)
    if waits:
        return _create_blocked(ctx, record, once=job_id is not None)
    if job_id is None:
        ctx.write_pending(record)
        return record.job()
    return _create_once(ctx, record, publish_pending(ctx, record))


# What must match for a create under an existing id to be a retry of the one that made it.
SAME_CREATE = ("request", "task", "resource", "not_before", "delay", "expires_in", "lease_seconds", "labels",
               "deadline", "deadline_in", "after", "on_parent_failure")


def _create_blocked(ctx: StoreContext, record: Record, *, once: bool) -> Job:
    """A job that waits for its parents: its markers, then its blocked record, then a
    look at the parents (one resolved before the record was published found no
    record to settle), which releases it at once if they are done."""
    dependencies = ctx.dependencies
    dependencies.mark(record)
    if not dependencies.publish(record, replace=not once):
        return _create_once(ctx, record, published=False)
    dependencies.settle(record.id)
    return ctx.job(*ctx.read(record.id))


def _create_once(ctx: StoreContext, record: Record, published: bool) -> Job:
    """The job *record* made, or (not *published*: its id was taken) the job that has
    its id: a job already made under this id by the same create is returned as it is
    now; by another, refused."""
    if published:
        return record.job()
    job_id = record.id
    existing, state = ctx.read(job_id)
    different = [name for name in SAME_CREATE if existing.get(name) != record.get(name)]
    if different:
        raise JobStateError(f"job id {job_id!r} is taken by a job with another {', '.join(different)}: "
                            "a new job needs a new id")
    return ctx.job(existing, state)


def _start(when: datetime | timedelta | float | None, what: str = "not_before", *,
           zero: bool = True) -> tuple[float | None, float | None]:
    """(absolute wall-clock time, relative seconds): a datetime is the first, a
    timedelta or a number of seconds the second."""
    if when is None:
        return None, None
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError(f"{what} must be a timezone-aware datetime")
        return when.timestamp(), None
    seconds = when.total_seconds() if isinstance(when, timedelta) else when
    return None, check_seconds(what, seconds, zero=zero) or None
