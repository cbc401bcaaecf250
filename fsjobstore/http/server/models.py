"""The JSON bodies the API takes and gives: typed, so FastAPI validates them and
writes the OpenAPI document from them. Unknown fields are refused (a typo is a 422
naming the field, never silently ignored)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from ..._files.ids import NEW_ID_PATTERN

Seconds = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=1000)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateJob(Body):
    request: JsonValue
    id: str | None = Field(None, pattern=NEW_ID_PATTERN, description=(
        "An id the client picked (a ULID, 26 Crockford base32 characters, as the store's own), so that a create "
        "sent again after its answer was lost returns the job it made instead of making a second one; the same "
        "id with another request or options is a 409."))
    task: Name | None = None
    resource: Name | None = None
    delay: Seconds | None = Field(None, description="Seconds from now before which no worker takes the job.")
    not_before: datetime | None = Field(None, description="A time (with a zone) before which no worker takes it.")
    expires_in: Positive | None = None
    lease_seconds: Positive | None = None
    key: Annotated[str, Field(min_length=1, max_length=1000)] | None = Field(
        None, description="At most one job has this key until it is purged.")
    on_conflict: Literal["return", "raise", "replace", "extend"] = Field(
        "return", description="When a job has the key: return it, raise (409), replace a pending job's request, "
        "or extend a pending job's delay.")
    labels: dict[Annotated[str, Field(min_length=1, max_length=100)], Annotated[str, Field(max_length=1000)]] | None = (
        Field(None, max_length=64, description="Free-form; the label `to` addresses the job."))
    priority: Annotated[int, Field(ge=-100, le=100)] = Field(0, description="Higher first.")
    deadline: datetime | None = Field(None, description="A time (with a zone) by which it must have started, or "
                                      "it ends expired.")
    deadline_in: Positive | None = Field(None, description="Seconds from now by which it must have started.")
    after: list[Annotated[str, Field(min_length=1, max_length=128)]] | None = Field(
        None, min_length=1, max_length=100, description="Ids of jobs (which must exist) this one waits for: "
        "blocked until every one is fulfilled.")
    on_parent_failure: Literal["cancel", "run"] = Field(
        "cancel", description="What a parent that ends otherwise than fulfilled does: cancel this job with the "
        "reason, or let it run once every parent is resolved.")


# Jobs in one batch: a durable batch makes a file fsync per job, and answers when done.
MAX_BATCH = 10_000


class CreateJobs(Body):
    jobs: list[CreateJob] = Field(min_length=1, max_length=MAX_BATCH)


class Value(Body):
    value: JsonValue = Field(description="Text, base64 text, or any JSON value, as value_encoding says.")
    value_encoding: Literal["utf-8", "base64", "json"] = "utf-8"


class Failure(Body):
    error: str
    retry: bool = False
    delay: Seconds | None = None
    attempt: bool = Field(True, description="false: giving up on a job whose attempts are used (not one more).")
    trace: str | None = Field(None, description="A traceback, kept with the attempt in the job's history.")


class Discard(Body):
    reason: str


class Target(Body):
    target: JsonValue


class Progress(Body):
    progress: JsonValue


class Targets(Body):
    targets: list[JsonValue] = Field(max_length=10000)


class Pull(Body):
    tasks: list[Name | None] | None = Field(None, description="Only jobs of these tasks (null: jobs without one).")
    wait: Annotated[float, Field(ge=0, le=60, allow_inf_nan=False)] = Field(
        0.0, description="Seconds to wait for work before answering with no lease."
    )
    to: Name | None = Field(None, description="Only jobs addressed to this (their label `to`); null: to nobody.")


class PullNotification(Body):
    wait: Annotated[float, Field(ge=0, le=60, allow_inf_nan=False)] = 0.0


class FailedDelivery(Body):
    target: JsonValue
    error: str = Field(max_length=100_000)


class Done(Body):
    delivered: list[JsonValue] = Field(max_length=10000)
    failed: list[FailedDelivery] = Field([], max_length=10000)
    give_up_after: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Give up a target (no longer waiting, kept with its last error) at this many failures."
    )
    retry_in: Seconds | None = None


class Purge(Body):
    older_than: Seconds | None = None


class Check(Body):
    repair: bool = False


class Filter(Body):
    state: Literal["failed", "cancelled", "expired", "discarded"] = "failed"
    task: Name | None = None
    error: str | None = Field(None, max_length=1000, description="Text searched in the error.")
    label: list[str] = Field(default_factory=list, max_length=64, description="NAME=VALUE: labels the jobs have.")
    q: str | None = Field(None, max_length=1000, description="Text searched in task, request and error.")


class JobOut(BaseModel):
    id: str
    state: str
    task: str | None
    resource: str | None
    request: JsonValue
    value: JsonValue
    value_encoding: str | None
    error: str | None
    attempts: int
    waiting: list[JsonValue]
    created_at: str
    updated_at: str
    not_before: str | None
    lease_seconds: float | None
    expires_in: float | None
    key: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    priority: int = 0
    deadline: str | None = None
    history: list[dict[str, JsonValue]] = Field(
        default_factory=list, description="The last attempts: host, pid, started_at, ended_at, outcome, error, "
        "traceback (see docs/format.md).")
    failed_deliveries: list[dict[str, JsonValue]] = Field(
        default_factory=list, description="Targets whose delivery failed: target, failures, last_error, "
        "last_failed_at, given_up.")
    progress: JsonValue = Field(None, description="The last progress its handler reported: the checkpoint a "
                                "retry starts from.")
    after: list[str] = Field(default_factory=list, description="The jobs it waits (or waited) for.")
    on_parent_failure: str = "cancel"


class JobList(BaseModel):
    jobs: list[JobOut]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page.")


class Jobs(BaseModel):
    jobs: list[JobOut]


class LeaseOut(BaseModel):
    token: str
    lease_seconds: float = Field(description="Renew more often than this, or the lease is given back.")
    job: JobOut
    waiting: list[JsonValue] = []


class Pulled(BaseModel):
    lease: LeaseOut | None
    next_due: float | None = Field(None, description="Seconds until something the store passed over (a retry's "
                                   "delay) may be handed out; null: nothing passed over.")


class Renewed(BaseModel):
    lease_seconds: float


class Removed(BaseModel):
    removed: int


class Dependants(BaseModel):
    dependants: list[str] = Field(description="The jobs made to wait for this one, oldest first.")


class Retried(BaseModel):
    retried: list[str]
    skipped: dict[str, str]


class ErrorBody(BaseModel):
    error: str
    detail: Any = None


class Role(BaseModel):
    role: Literal["admin", "read"]


class ProblemOut(BaseModel):
    kind: str
    path: str
    detail: str
    repaired: bool


class CheckOut(BaseModel):
    counts: dict[str, int]
    problems: list[ProblemOut]
    temp_files: int
    leases: int
    clean: bool
    checked_at: str


class LeaseInfo(BaseModel):
    kind: str
    job_id: str
    client: str
    silent_for: float
    lease_seconds: float


class WorkerOut(BaseModel):
    name: str = Field(description="What the client calls itself (host:pid for HttpStore), else its address.")
    address: str
    tasks: list[str | None] | None = Field(description="The tasks its last pull for work asked for (null: any).")
    pulls: int
    jobs: list[str] = Field(description="Jobs it holds a lease on now.")
    last_seen_at: float = Field(description="When it was last heard from (seconds since the epoch).")
    silent_for: float
    alive: bool = Field(description="Heard from within a lease's length (else its leases are given back).")


class Health(BaseModel):
    disk_total_bytes: int
    disk_free_bytes: int
    inodes_total: int
    inodes_free: int
    leases: list[LeaseInfo]
    last_check: CheckOut | None
