"""Pauses (of the whole store or of one task) and the leases held now: what
``fsjobstore pause/resume/freeze/thaw`` need of a served store."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from .auth import Ctx, Read, Write
from .models import Body, Name
from .routes_jobs import ERRORS

router = APIRouter(prefix="/api", tags=["pauses"], responses=ERRORS)


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
