"""Job creation: a new pending record, published in one atomic step; under an id the
caller picked, at most once (a create retried after its reply was lost)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any

from .._arguments import check_labels, check_seconds
from .._files import fsio
from .._files.ids import check_new_id, new_id, new_ids
from .._files.layout import RECORD_SUFFIX
from .._files.queues import check_priority, id_suffix
from .._files.records import Record
from .._files.times import time_text
from .._files.values import encode_json
from ..errors import JobNotFound, JobStateError
from ..job import Job
from ..specs import named
from ..views import Progress
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
    """A new pending job (options: as ``JobStore.create``)."""
    # (positional: a second call by keywords costs a tenth of a create)
    record, changes = prepare(ctx, request, task, resource, not_before, expires_in, lease_seconds, key, on_conflict,
                              labels, priority, deadline, job_id, after, on_parent_failure)
    if before_publish is not None:  # (a workspace's input, moved in while no worker can see the job)
        before_publish(record.id)
    if changes is not None:
        return keys.create(ctx, record, on_conflict, changes)
    if after is not None:
        return _create_blocked(ctx, record, once=job_id is not None)
    if job_id is None:
        ctx.write_pending(record)
        return record.job()
    return _create_once(ctx, record)


def prepare(
    ctx: StoreContext,
    request: Any,
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
    after: Sequence[str] | None = None,
    on_parent_failure: str = "cancel",
) -> tuple[Record, dict[str, Any] | None]:
    """The record of a new job, every argument checked (nothing written), and for a
    keyed job what a replace or an extend changes in the job that has the key."""
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
    if key is None:
        return record, None
    return record, {"request": request, "request_json": request_json, "not_before": start_text, "delay": delay}


def create_many(ctx: StoreContext, items: Sequence[tuple[Any, dict[str, Any]]],
                job_ids: Sequence[str | None] | None = None, progress: Progress | None = None) -> list[Job]:
    """A job for each (request, create's options) of *items*, all checked before any
    is written (bad input: the error names its index); the unkeyed ones published
    together (format.md, "create_many"). Items that share one options dict (``specs.batch``)
    share its checks, times and rendering. Under ids the caller picked (*job_ids*,
    one per item), a job made by an earlier try of the same batch is returned as it is."""
    if job_ids is not None and len(job_ids) != len(items):
        raise ValueError(f"{len(job_ids)} job ids for {len(items)} requests: give one per request")
    made: list[Job | None] = [None] * len(items)
    keyed: list[tuple[int, Record, dict[str, Any]]] = []
    plain: list[tuple[int, Record, bytes]] = []
    siblings: dict[int, _Siblings] = {}
    fresh = new_ids(len(items)) if job_ids is None else []  # (in the batch's order)
    ids = fresh if job_ids is None else job_ids
    for index, (request, options) in enumerate(items):
        try:
            family = siblings.get(id(options)) if job_ids is None else None
            if family is not None:
                record, data, made[index] = family.make(ctx, request, fresh[index])
                plain.append((index, record, data))
                continue
            record, changes = prepare(ctx, request, job_id=ids[index], **options)
        except (TypeError, ValueError) as exc:
            raise named(index, exc) from exc
        if changes is not None or record.get("after"):  # (a job made after others: as create makes it)
            keyed.append((index, record, changes or {}))
            continue
        if job_ids is None:
            siblings[id(options)] = _Siblings(record)
        plain.append((index, record, record.render()))
    for index, record, _ in keyed:
        if items[index][1].get("on_conflict") == "raise":
            keys.refuse_taken(ctx, str(record.get("key")), record.id)
    total = len(items)
    for done, (index, record, changes) in enumerate(keyed, start=1):
        made[index] = (_create_blocked(ctx, record, once=job_ids is not None) if record.get("after") else
                       keys.create(ctx, record, items[index][1].get("on_conflict", "return"), changes))
        if progress is not None:
            progress(done, total)
    layout, durable = ctx.layout, ctx.durable
    files = [(layout.pending_folder(record.id, durable=durable), record.id + RECORD_SUFFIX, data)
             for _, record, data in plain]
    written = None if progress is None else (lambda done: progress(len(keyed) + done, total))
    new = fsio.publish_many(layout.tmp, files, durable=durable, replace=job_ids is None, written=written,
                            remake=lambda _, name: layout.pending_folder(name[: -len(RECORD_SUFFIX)], durable=durable,
                                                                         again=True))
    for (index, record, _), published in zip(plain, new, strict=True):
        if job_ids is not None and not (published and publish_pending(ctx, record, linked=True)):
            made[index] = _create_once(ctx, record)
        elif made[index] is None:
            made[index] = record.job()
    return [job for job in made if job is not None]


class _Siblings:
    """The jobs of a batch made with one options dict: checked, timed and rendered
    once, for the first of them; each of the others differs in its id and request."""

    def __init__(self, first: Record) -> None:
        self._first = first
        self._queue = "".join(first.id.partition("-")[1:])  # (a new id has no "-": what follows is the queue)
        self._render = first.sibling_renderer()
        job = first.job()
        # (positional: Job(*values) costs a third of dataclasses.replace, which reads every field again)
        self._values = [getattr(job, field.name) for field in fields(Job)]

    def make(self, ctx: StoreContext, request: Any, new: str) -> tuple[Record, bytes, Job]:
        """The job of *request*, under the *new* id (and the first job's queue)."""
        request_json = encode_json(request, "request", ctx.options.max_bytes)
        job_id = new + self._queue
        values = self._values.copy()
        # (labels: each job its own dict, which its owner may change)
        values[_ID], values[_REQUEST], values[_LABELS] = job_id, request, dict(values[_LABELS])
        return self._first.sibling(job_id, request, request_json), self._render(job_id, request_json), Job(*values)


_ID, _REQUEST, _LABELS = ([field.name for field in fields(Job)].index(name) for name in ("id", "request", "labels"))


# Rounds of a create under an id the caller picked against purges of the job it made before.
CREATE_TRIES = 3
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
        return _existing(ctx, record)
    dependencies.settle(record.id)
    return ctx.job(*ctx.read(record.id))


def _create_once(ctx: StoreContext, record: Record) -> Job:
    """Publish *record* unless its id exists (create-if-absent). A job already made
    under this id by the same create is returned as it is now; by another, refused.
    One purged between the two (done since the first try) is made again."""
    for _ in range(CREATE_TRIES - 1):
        if publish_pending(ctx, record):
            return record.job()
        with suppress(JobNotFound):
            return _existing(ctx, record)
    return record.job() if publish_pending(ctx, record) else _existing(ctx, record)


def _existing(ctx: StoreContext, record: Record) -> Job:
    """The job made under *record*'s id before (by an earlier try of this create, so
    with the same request and options: else JobStateError), as it is now;
    JobNotFound if it is gone (purged) since."""
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
