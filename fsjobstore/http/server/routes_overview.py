"""What the dashboard's operator panels show in one answer each: the control state
(pauses, freeze, limits and the jobs running under them, leases and their jobs) and
the store's schedules. Reads only: the pauses and limits are set through the
routes of ``routes_control``."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ...errors import JobNotFound
from ...loops.freeze import FREEZE_REASON
from ...store import JobStore
from .auth import Ctx, Read
from .routes_control import HoldingOut, LimitOut, PauseOut
from .routes_jobs import ERRORS

router = APIRouter(prefix="/api", tags=["control"], responses=ERRORS)


class HeldOut(HoldingOut):
    task: str | None = Field(description="The held job's (null: none, or the job is gone since).")
    resource: str | None


class LimitUse(LimitOut):
    running: list[str] = Field(description="The ids of the jobs under this limit that hold a work lease now.")


class ControlOut(BaseModel):
    pauses: list[PauseOut]
    frozen: bool = Field(description="The whole store is paused by `fsjobstore freeze`.")
    limits: list[LimitUse]
    holdings: list[HeldOut]


class ScheduleOut(BaseModel):
    name: str
    when: str = Field(description="The schedule in words: a cron expression and its zone, or a period.")
    task: str | None
    resource: str | None
    paused: bool
    next_tick: str = Field(description="When the next tick falls due by the server's clock (a paused schedule "
                           "makes none).")
    last_tick: str | None = Field(description="The latest tick made or passed over (null: none yet).")


def _held(store: JobStore) -> list[dict[str, Any]]:
    """The leases held now, each with its job's task and resource (a few reads: one per
    lease, and there are no more leases than running jobs and due notifications)."""
    held = []
    for holding in store.holdings():
        try:
            job = store.get(holding.job_id)
            task, resource = job.task, job.resource
        except JobNotFound:  # (resolved and purged, or deleted, since the listing)
            task = resource = None
        held.append({**dataclasses.asdict(holding), "task": task, "resource": resource})
    return held


@router.get("/control", response_model=ControlOut)
def control(ctx: Ctx, _: Read) -> dict[str, Any]:
    """The pauses in force, whether the store is frozen, the limits set with the jobs
    running under each now, and the leases held with their jobs' task and resource."""
    pauses = ctx.store.pauses()
    held = _held(ctx.store)
    limits = [  # (a limit's kind, "resource" or "task", names the field of the held job it counts)
        {**dataclasses.asdict(limit),
         "running": [h["job_id"] for h in held if h["kind"] == "work" and h[limit.kind] == limit.name]}
        for limit in ctx.store.limits()
    ]
    return {
        "pauses": [dataclasses.asdict(pause) for pause in pauses],
        "frozen": any(pause.task is None and pause.reason == FREEZE_REASON for pause in pauses),
        "limits": limits,
        "holdings": held,
    }


@router.get("/schedules", response_model=list[ScheduleOut])
def schedules(ctx: Ctx, _: Read) -> list[dict[str, Any]]:
    """The store's schedules by name (made with ``fsjobstore schedule``; read-only here)."""
    book = ctx.store.schedules
    listed = []
    for schedule in book.all():
        last_tick, next_tick = book.ticks(schedule)
        listed.append({"name": schedule.name, "when": schedule.describe(), "task": schedule.task,
                       "resource": schedule.resource, "paused": schedule.paused, "next_tick": next_tick,
                       "last_tick": last_tick})
    return listed
