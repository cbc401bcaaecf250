"""Maintenance, health, metrics, the live event stream and the dashboard's files."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from .auth import Ctx, Read, Write
from .models import Check, CheckOut, Health, Purge, Removed, Role, WorkerOut
from .routes_jobs import ERRORS

STATIC = Path(__file__).parent / "static"
HEARTBEAT_SECONDS = 15.0

router = APIRouter(responses=ERRORS)


@router.get("/api/whoami", response_model=Role, tags=["ops"])
def whoami(who: Read) -> dict[str, str]:
    """What the caller's token may do (the dashboard hides actions from readers)."""
    return {"role": who}


@router.post("/api/purge", response_model=Removed, tags=["ops"])
def purge(ctx: Ctx, _: Write, body: Purge) -> dict[str, int]:
    return {"removed": ctx.store.purge(body.older_than)}


@router.post("/api/check", response_model=CheckOut, tags=["ops"])
def check(ctx: Ctx, _: Write, body: Check) -> dict[str, Any]:
    """Verify the store's invariants (with ``repair``, fix what is safe); kept as the last result."""
    report = ctx.store.check(repair=body.repair)
    result = {
        "counts": dict(report.counts),
        "problems": [{"kind": p.kind, "path": p.path, "detail": p.detail, "repaired": p.repaired}
                     for p in report.problems],
        "temp_files": report.temp_files, "leases": report.leases, "clean": report.clean,
        "checked_at": datetime.now(UTC).isoformat(),
    }
    ctx.last_check = result
    return result


@router.get("/api/health", response_model=Health, tags=["ops"])
def health(ctx: Ctx, _: Read) -> dict[str, Any]:
    """Space and inodes left where the store is, leases held for clients, the last check."""
    disk = os.statvfs(ctx.store.path)
    now = time.monotonic()
    return {
        "disk_total_bytes": disk.f_blocks * disk.f_frsize,
        "disk_free_bytes": disk.f_bavail * disk.f_frsize,
        "inodes_total": disk.f_files,
        "inodes_free": disk.f_favail,
        "leases": [
            {"kind": e.kind, "job_id": e.handle.id, "client": e.client, "silent_for": round(now - e.last_seen, 3),
             "lease_seconds": e.seconds}
            for e in ctx.leases.entries()
        ],
        "last_check": ctx.last_check,
    }


@router.get("/api/stats/tasks", response_model=dict[str, dict[str, int]], tags=["ops"])
def stats_by_task(ctx: Ctx, _: Read) -> dict[str, dict[str, int]]:
    """Jobs per task and state (``""`` for jobs without a task): the resolved ones from
    the history's summaries, the unresolved ones from what was read of their records
    before, reading only those new or changed since (``JobStore.stats_by_task``)."""
    return ctx.store.stats_by_task()


@router.get("/api/workers", response_model=list[WorkerOut], tags=["ops"])
def workers(ctx: Ctx, _: Read) -> list[dict[str, Any]]:
    """The HTTP clients heard from in the last hour: tasks, jobs held now, alive or not."""
    held: dict[str, list[str]] = {}
    for entry in ctx.leases.entries():
        held.setdefault(entry.client, []).append(entry.handle.id)
    return ctx.workers.rows(ctx.store.lease_seconds, held)


@router.get("/metrics", tags=["ops"], response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}})
def metrics(request: Request, _: Read) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/events", tags=["ops"], response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "server-sent events"}})
async def events(ctx: Ctx, _: Read, request: Request) -> StreamingResponse:
    """Server-sent events: a ``stats`` event with the counts at once and whenever they
    change (looked at every poll interval), a comment line as a heartbeat."""

    async def stream() -> AsyncIterator[str]:
        last: dict[str, int] | None = None
        quiet_since = time.monotonic()
        while not await request.is_disconnected():
            stats = await run_in_threadpool(ctx.store.stats)
            if stats != last:
                last, quiet_since = stats, time.monotonic()
                yield f"event: stats\ndata: {json.dumps({'time': time.time(), 'stats': stats})}\n\n"
            elif time.monotonic() - quiet_since > HEARTBEAT_SECONDS:
                quiet_since = time.monotonic()
                yield ": still here\n\n"
            await asyncio.sleep(ctx.settings.poll_interval)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


@router.get("/", include_in_schema=False)
def dashboard() -> FileResponse:
    """The dashboard page (it holds no data: its script asks the API with the token)."""
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


@router.get("/static/{name}", include_in_schema=False)
def static(name: str) -> FileResponse:
    files = {"app.js": "text/javascript", "style.css": "text/css"}
    if name not in files:
        raise HTTPException(404, f"no file {name!r}")
    return FileResponse(STATIC / name, media_type=files[name], headers={"Cache-Control": "no-store"})
