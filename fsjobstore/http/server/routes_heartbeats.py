"""Heartbeat records of loops that run over HTTP: the server keeps each in the store
on its loop's behalf (with the loop's own host and pid), so that ``workers`` lists
remote and local loops alike."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, Field

from .auth import Ctx, Read, Write
from .models import Body
from .routes_control import PauseOut
from .routes_jobs import ERRORS

router = APIRouter(responses=ERRORS)
HeartbeatId = Annotated[str, Path(min_length=1, max_length=300)]


class Registration(Body):
    kind: Literal["worker", "notifier"]
    tasks: list[Annotated[str, Field(min_length=1, max_length=1000)] | None] | None = Field(None, max_length=1000)
    concurrency: int = Field(ge=1, le=100_000)
    host: str = Field(min_length=1, max_length=255)
    pid: int = Field(ge=0, le=2**31)


class Registered(BaseModel):
    id: str
    beat_seconds: float


class Beat(Body):
    current: list[Annotated[str, Field(max_length=200)]] = Field(max_length=100_000)
    paused: Annotated[str, Field(max_length=2000)] | None = Field(
        None, description="What of the loop's work is paused, in words (null: nothing).")


class WorkerInfoOut(BaseModel):
    id: str
    kind: str
    host: str
    pid: int
    started_at: str
    tasks: list[str | None] | None
    concurrency: int
    current: list[str]
    beats: int
    beat_seconds: float
    alive: bool | None = Field(description="Judged without comparing clocks (null: not watched long enough).")
    paused: str | None = None


@router.post("/api/heartbeats", response_model=Registered, status_code=201, tags=["workers"])
def register(ctx: Ctx, _: Write, body: Registration) -> dict[str, Any]:
    record = ctx.store.register_worker(body.kind, body.tasks, body.concurrency, host=body.host, pid=body.pid)
    ctx.heartbeats[record.id] = record
    return {"id": record.id, "beat_seconds": record.beat_seconds}


class Beaten(BaseModel):
    pauses: list[PauseOut] = Field(description="The pauses in force (as GET /api/pauses): a loop watches them "
                                   "through its beats.")


@router.post("/api/heartbeats/{heartbeat}/beat", response_model=Beaten, tags=["workers"])
def beat(ctx: Ctx, _: Write, heartbeat: HeartbeatId, body: Beat) -> dict[str, Any]:
    record = ctx.heartbeats.get(heartbeat)
    if record is None:  # (the server restarted: the loop registers again)
        raise HTTPException(404, f"no heartbeat {heartbeat!r} on this server")
    return {"pauses": [dataclasses.asdict(pause) for pause in record.beat(body.current, body.paused)]}


@router.delete("/api/heartbeats/{heartbeat}", status_code=204, tags=["workers"])
def close(ctx: Ctx, _: Write, heartbeat: HeartbeatId) -> None:
    record = ctx.heartbeats.pop(heartbeat, None)
    if record is not None:
        record.close()


@router.get("/api/heartbeats", response_model=list[WorkerInfoOut], tags=["workers"])
def listing(ctx: Ctx, _: Read, watch: Annotated[float, Query(ge=0, le=10)] = 0.0) -> list[dict[str, Any]]:
    """Every loop with a heartbeat record in the store, local or over HTTP, alive or not."""
    return [dataclasses.asdict(info) for info in ctx.store.workers(watch=watch)]
