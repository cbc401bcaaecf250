"""Creating, reading and resolving jobs by id: the store's operations that need no lease."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Query, Response

from ..._arguments import parse_labels
from ..._files.values import encode_json
from ...job import Job
from ...specs import JobSpec, named
from ...store import JobStore
from ...triage import JobFilter, retry_matching
from ..wire import value_from_wire
from .auth import Ctx, Read, Write
from .listing import page_of
from .models import (
    CreateJob,
    CreateJobs,
    Dependants,
    ErrorBody,
    Failure,
    Filter,
    JobList,
    JobOut,
    Jobs,
    Retried,
    Target,
    Targets,
    Value,
)

# Every error status a route may answer with, for the OpenAPI document.
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (400, "an invalid job id"), (401, "no valid token"), (403, "a read-only token on a write"),
        (404, "no such job"), (409, "the job is resolved, busy, or in the wrong state"),
        (410, "the lease is lost"), (413, "too large"), (422, "an invalid body or parameter"),
    )
}

router = APIRouter(prefix="/api", tags=["jobs"], responses=ERRORS)

State = Literal["pending", "blocked", "running", "fulfilled", "failed", "cancelled", "expired", "discarded"]
Sort = Literal["created", "-created", "updated", "-updated"]


@router.get("/stats", response_model=dict[str, int])
def stats(ctx: Ctx, _: Read) -> dict[str, int]:
    """Jobs per state, and ``due``: resolved jobs with targets to notify."""
    return ctx.store.stats()


@router.get("/jobs", response_model=JobList)
def list_jobs(
    ctx: Ctx, _: Read,
    state: State | None = None,
    task: Annotated[str | None, Query(max_length=1000)] = None,
    q: Annotated[str | None, Query(max_length=1000, description="Text searched in task, request, error (read on "
                                   "from the cursor until a page of matches is found).")] = None,
    sort: Sort = "-created",
    cursor: Annotated[str | None, Query(max_length=4000)] = None,
    after: Annotated[str | None, Query(max_length=1000, description="Jobs after this id (creation order): the last "
                                       "id of the page before; 400 for text that is no job id.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    label: Annotated[list[str] | None, Query(max_length=64, description="NAME=VALUE: only jobs with this label "
                                             "(repeat for several).")] = None,
    priority: Annotated[int | None, Query(ge=-100, le=100, description="Only jobs of this priority.")] = None,
) -> dict[str, Any]:
    jobs, next_cursor = page_of(ctx.store, state, sort=sort, limit=limit, cursor=cursor, after=after, task=task,
                                labels=parse_labels(label or []), text=q, priority=priority)
    return {"jobs": [job.to_dict() for job in jobs], "next_cursor": next_cursor}


def _create_options(store: JobStore, body: CreateJob) -> dict[str, Any]:
    """The keyword arguments of store.create, checked before anything is written."""
    if body.delay is not None and body.not_before is not None:
        raise ValueError("give delay or not_before, not both")
    if body.not_before is not None and body.not_before.tzinfo is None:
        raise ValueError("not_before must carry a time zone (e.g. 2026-01-01T00:00:00Z)")
    if body.deadline_in is not None and body.deadline is not None:
        raise ValueError("give deadline or deadline_in, not both")
    encode_json(body.request, "request", store.max_bytes)
    return {
        "task": body.task, "resource": body.resource, "expires_in": body.expires_in,
        "lease_seconds": body.lease_seconds, "not_before": body.delay if body.delay is not None else body.not_before,
        "key": body.key, "on_conflict": body.on_conflict, "labels": body.labels, "priority": body.priority,
        "deadline": body.deadline_in if body.deadline_in is not None else body.deadline, "job_id": body.id,
        "after": body.after, "on_parent_failure": body.on_parent_failure,
    }


@router.post("/jobs", response_model=JobOut, status_code=201)
def create(ctx: Ctx, _: Write, body: CreateJob) -> dict[str, Any]:
    options = _create_options(ctx.store, body)
    return ctx.store.create(body.request, **options).to_dict()


@router.post("/jobs/batch", response_model=Jobs, status_code=201)
def create_many(ctx: Ctx, _: Write, body: CreateJobs) -> dict[str, Any]:
    """Create several jobs (JobStore.create_many): every one is checked before the first is
    written; each under its ``id``, so a batch sent again makes no second job."""
    specs, ids = [], []
    for index, job in enumerate(body.jobs):
        try:
            options = _create_options(ctx.store, job)
        except (TypeError, ValueError) as exc:
            raise named(index, exc) from exc
        ids.append(options.pop("job_id"))
        specs.append(JobSpec(job.request, **options))
    return {"jobs": [job.to_dict() for job in ctx.store.create_many(specs, job_ids=ids)]}


@router.get("/jobs/{job_id}", response_model=JobOut)
def get(ctx: Ctx, _: Read, job_id: str) -> dict[str, Any]:
    return ctx.store.get(job_id).to_dict()


@router.get("/jobs/{job_id}/dependants", response_model=Dependants)
def dependants(ctx: Ctx, _: Read, job_id: str) -> dict[str, Any]:
    return {"dependants": ctx.store.dependants(job_id)}


@router.get("/jobs/{job_id}/wait", response_model=JobOut)
async def wait(
    ctx: Ctx, _: Read, job_id: str, timeout: Annotated[float, Query(ge=0, le=60, allow_inf_nan=False)] = 30.0
) -> dict[str, Any]:
    """The job once resolved, or as it is after *timeout* seconds (look at its state)."""

    def resolved_or_now() -> Job:
        try:
            return ctx.store.wait(job_id, timeout)
        except TimeoutError:
            return ctx.store.get(job_id)

    return (await anyio.to_thread.run_sync(resolved_or_now, limiter=ctx.waiters())).to_dict()


@router.post("/jobs/{job_id}/fulfill", response_model=JobOut)
def fulfill(ctx: Ctx, _: Write, job_id: str, body: Value) -> dict[str, Any]:
    """Resolve a job by hand, without a lease (409 if it is already resolved)."""
    value = value_from_wire(body.value, body.value_encoding)
    return ctx.store.fulfill(job_id, value).to_dict()


@router.post("/jobs/{job_id}/fail", response_model=JobOut)
def fail(ctx: Ctx, _: Write, job_id: str, body: Failure) -> dict[str, Any]:
    """Fail a job by hand; with ``retry`` it goes back to pending (409 while a worker holds it)."""
    return ctx.store.fail(job_id, body.error, retry=body.retry, delay=body.delay).to_dict()


@router.post("/jobs/{job_id}/cancel", response_model=JobOut)
def cancel(ctx: Ctx, _: Write, job_id: str) -> dict[str, Any]:
    return ctx.store.cancel(job_id).to_dict()


@router.post("/jobs/{job_id}/retry", response_model=JobOut)
def retry(ctx: Ctx, _: Write, job_id: str) -> dict[str, Any]:
    """Return a failed or cancelled job to pending."""
    return ctx.store.retry(job_id).to_dict()


@router.delete("/jobs/{job_id}", response_model=JobOut)
def delete(ctx: Ctx, _: Write, job_id: str) -> dict[str, Any]:
    """Remove a resolved job now, with its waiting targets (never told, then); the job
    as it was. 409 for a pending or running job: cancel it first."""
    return ctx.store.delete(job_id).to_dict()


@router.post("/jobs/{job_id}/queue", status_code=204, response_class=Response)
def queue(ctx: Ctx, _: Write, job_id: str, body: Target) -> None:
    """Add a waiting target, told the job's result once it is resolved."""
    ctx.store.queue(job_id, body.target)


@router.post("/jobs/{job_id}/unqueue", status_code=204, response_class=Response)
def unqueue(ctx: Ctx, _: Write, job_id: str, body: Targets) -> None:
    ctx.store.unqueue_all(job_id, body.targets)


@router.post("/retry-failed", response_model=Retried)
def retry_failed(ctx: Ctx, _: Write, body: Filter) -> dict[str, Any]:
    """Retry every job matching the filter (default: every failed one); say which could
    not be retried and why."""
    where = JobFilter(state=body.state, task=body.task, error=body.error, labels=parse_labels(body.label),
                      text=body.q)
    outcome = retry_matching(ctx.store, where)
    return {"retried": outcome.retried, "skipped": outcome.skipped}
