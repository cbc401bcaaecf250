"""Pulling work and notifications, and everything done through the lease's token.

A pull may wait (long-poll) for work to appear, woken by the store's own signal.
A commit goes through the store's lease, so it is fenced exactly as a local one:
LeaseLost (410) if the lease is no longer held on disk.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from ...errors import JobStateError
from ...interface import NotificationHandle as NotificationLease
from ...interface import WakeSignal as Signal
from ...interface import WorkHandle as WorkLease
from ..wire import value_from_wire
from .auth import Ctx, Write
from .context import Context
from .leases import Entry, Handle
from .models import Done, Failure, JobOut, Progress, Pull, Pulled, PullNotification, Renewed, Value
from .routes_jobs import ERRORS

router = APIRouter(prefix="/api", tags=["leases"], responses=ERRORS)


async def _long_poll(
    ctx: Context, pull: Callable[[], Handle | None], make_signal: Callable[[], Signal], wait: float
) -> Handle | None:
    """pull() now, then again whenever the store's signal says something may have
    changed (or each poll interval), until it gives a lease or *wait* runs out."""
    deadline = time.monotonic() + wait
    signal: Signal | None = None
    try:
        while True:
            if signal is not None:
                signal.clear()  # (before the pull: a change during it wakes the next wait)
            handle = await run_in_threadpool(pull)
            left = deadline - time.monotonic()
            if handle is not None or left <= 0:
                return handle
            if signal is None:
                signal = make_signal()
                continue  # pull once more: the change may have come before the watch
            await anyio.to_thread.run_sync(signal.wait, min(left, ctx.store.poll_interval), limiter=ctx.waiters())
    finally:
        if signal is not None:
            ctx.store.stop_signal(signal)


def _granted(ctx: Context, handle: Handle | None, client: str, next_due: float | None = None) -> dict[str, Any]:
    if handle is None:
        return {"lease": None, "next_due": next_due}
    job = handle.job
    # As locally: a job's own lease length applies to its work lease, not to its notification lease.
    own = job.lease_seconds if isinstance(handle, WorkLease) else None
    seconds = own or ctx.store.lease_seconds
    entry = ctx.leases.add(handle, seconds, client)
    waiting = handle.waiting if isinstance(handle, NotificationLease) else []
    return {"lease": {"token": entry.token, "lease_seconds": seconds, "job": job.to_dict(), "waiting": waiting}}


@router.post("/work/pull", response_model=Pulled)
async def pull_work(ctx: Ctx, _: Write, body: Pull, request: Request) -> dict[str, Any]:
    """Lease one job to do, waiting up to ``wait`` seconds for one. Renew the lease
    (``/leases/{token}/renew``) more often than ``lease_seconds``, or it is given back."""
    tasks = body.tasks
    client = ctx.workers.heard(request, pulled=True, tasks=tasks)
    handle = await _long_poll(ctx, lambda: ctx.store.pull_work(tasks=tasks), ctx.store.work_signal, body.wait)
    return _granted(ctx, handle, client, ctx.store.next_work_due())


@router.post("/notifications/pull", response_model=Pulled)
async def pull_notification(ctx: Ctx, _: Write, body: PullNotification, request: Request) -> dict[str, Any]:
    """Lease one resolved job's waiting targets to deliver its result to."""
    client = ctx.workers.heard(request)
    handle = await _long_poll(ctx, ctx.store.pull_notification, ctx.store.notification_signal, body.wait)
    return _granted(ctx, handle, client, ctx.store.next_notification_due())


@router.post("/leases/{token}/renew", response_model=Renewed)
def renew(ctx: Ctx, _: Write, token: str, request: Request) -> dict[str, Any]:
    """Tell the server the client is still at work (410 once the lease is lost)."""
    ctx.workers.heard(request)
    with ctx.leases.using(token) as entry:
        return {"lease_seconds": entry.seconds}


def _work(entry: Entry) -> WorkLease:
    if not isinstance(entry.handle, WorkLease):
        raise JobStateError(f"lease on job {entry.handle.id} is a notification lease, not a work lease")
    return entry.handle


@router.post("/leases/{token}/fulfill", response_model=JobOut)
def fulfill(ctx: Ctx, _: Write, token: str, body: Value) -> dict[str, Any]:
    value = value_from_wire(body.value, body.value_encoding)
    with ctx.leases.using(token) as entry:
        return _work(entry).fulfill(value).to_dict()


@router.post("/leases/{token}/progress", status_code=204, response_class=Response)
def progress(ctx: Ctx, _: Write, token: str, body: Progress) -> None:
    """Keep the job's progress (the checkpoint its next attempt starts with); the lease stays held."""
    with ctx.leases.using(token) as entry:
        _work(entry).progress(body.progress)


@router.post("/leases/{token}/fail", response_model=JobOut)
def fail(ctx: Ctx, _: Write, token: str, body: Failure) -> dict[str, Any]:
    with ctx.leases.using(token) as entry:
        job = _work(entry).fail(body.error, retry=body.retry, delay=body.delay, attempt=body.attempt,
                                trace=body.trace)
        return job.to_dict()


@router.post("/leases/{token}/done", status_code=204, response_class=Response)
def done(ctx: Ctx, _: Write, token: str, body: Done) -> None:
    """Record the targets delivered (the rest stay due) and give the lease back."""
    with ctx.leases.using(token) as entry:
        if not isinstance(entry.handle, NotificationLease):
            raise JobStateError(f"lease on job {entry.handle.id} is a work lease, not a notification lease")
        entry.handle.done(body.delivered, failed=[(failure.target, failure.error) for failure in body.failed],
                          give_up_after=body.give_up_after, retry_in=body.retry_in)


@router.post("/leases/{token}/release", status_code=204, response_class=Response)
def release(ctx: Ctx, _: Write, token: str) -> None:
    """Give the lease up without committing (nothing happens for an unknown token)."""
    ctx.leases.release(token)
