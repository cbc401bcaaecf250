"""What operators set for every host: pauses (of the whole store or of one task),
concurrency limits (of a resource or a task), and the leases held now (what
``fsjobstore freeze`` waits on)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from .auth import Ctx, Read, Write
from .models import Body, Name
from .routes_jobs import ERRORS

router = APIRouter(prefix="/api", tags=["control"], responses=ERRORS)


class PauseIn(Body):
    task: Name | None = Field(None, description="The task to pause (null: the whole store).")
    reason: Annotated[str, Field(max_length=1000)] | None = None


class ResumeIn(Body):
    task: Name | None = Field(None, description="The task to resume (null: the whole store).")


class PauseOut(BaseModel):
    task: str | None
    reason: str | None
    paused_at: str | None
    host: str | None
    pid: int | None


class Resumed(BaseModel):
    resumed: bool = Field(description="false: it was not paused.")


class LimitIn(Body):
    limit: Annotated[int, Field(ge=1, le=1000)] | None = Field(description="null: back to the default.")
    resource: Name | None = None
    task: Name | None = None


class LimitOut(BaseModel):
    kind: str
    name: str
    limit: int


class HoldingOut(BaseModel):
    kind: str
    job_id: str
    host: str | None
    pid: int | None


@router.get("/pauses", response_model=list[PauseOut])
def pauses(ctx: Ctx, _: Read) -> list[dict[str, Any]]:
    """The pauses in force, the whole store's first."""
    return [dataclasses.asdict(pause) for pause in ctx.store.pauses()]


@router.post("/pauses", response_model=PauseOut)
def pause(ctx: Ctx, _: Write, body: PauseIn) -> dict[str, Any]:
    """Stop every worker of the store from taking jobs of the task (or any job)."""
    return dataclasses.asdict(ctx.store.pause(body.task, reason=body.reason))


@router.post("/pauses/resume", response_model=Resumed)
def resume(ctx: Ctx, _: Write, body: ResumeIn) -> dict[str, bool]:
    return {"resumed": ctx.store.resume(body.task)}


@router.get("/holdings", response_model=list[HoldingOut])
def holdings(ctx: Ctx, _: Read) -> list[dict[str, Any]]:
    """The work and notification leases held now (the server's own, held for its
    clients, among them), and the host and pid of each holder."""
    return [dataclasses.asdict(holding) for holding in ctx.store.holdings()]


@router.get("/limits", response_model=list[LimitOut])
def limits(ctx: Ctx, _: Read) -> list[dict[str, Any]]:
    """The concurrency limits set (a resource without one: 1 job at a time; a task: no cap)."""
    return [dataclasses.asdict(limit) for limit in ctx.store.limits()]


@router.post("/limits", status_code=204, response_class=Response)
def set_limit(ctx: Ctx, _: Write, body: LimitIn) -> None:
    """At most ``limit`` jobs of the resource (or task: give one of the two) run at once."""
    ctx.store.set_limit(body.limit, resource=body.resource, task=body.task)
