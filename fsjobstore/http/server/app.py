"""The ASGI application: FastAPI routes over one store, JSON errors, limits, metrics."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ... import __version__
from ...errors import JobStoreError
from ...store import JobStore
from ..wire import error_to_wire
from . import routes_control, routes_heartbeats, routes_jobs, routes_leases, routes_ops, routes_overview
from .context import WAITING_THREADS, Context, Settings
from .metrics import Metrics
from .middleware import BodyLimit, Latency

log = logging.getLogger("fsjobstore")


def create_app(store: JobStore, settings: Settings) -> FastAPI:
    """An app serving *store*. The app owns its HTTP leases (and gives them back on
    shutdown), never the store: whoever opened the store closes it."""
    ctx = Context(store, settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        ctx.waiting = anyio.CapacityLimiter(WAITING_THREADS)
        ctx.leases.start()
        try:
            yield
        finally:
            ctx.leases.stop()

    app = FastAPI(
        title="fsjobstore", version=__version__, lifespan=lifespan,
        description="A job store kept in a folder, over HTTP. Every operation of the store's interface; "
        "leases carry a token and are given back when their client stops renewing them.",
    )
    app.state.ctx = ctx
    metrics = Metrics(ctx)
    app.state.metrics = metrics
    for module in (routes_jobs, routes_leases, routes_ops, routes_heartbeats, routes_control, routes_overview):
        app.include_router(module.router)
    _add_error_handlers(app)
    # (added last runs first: the size limit guards everything, latency sees every answer)
    app.add_middleware(Latency, metrics=metrics)
    app.add_middleware(BodyLimit, limit=settings.max_body)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    async def store_error(_request: Request, exc: Exception) -> JSONResponse:
        wired = error_to_wire(exc)
        if wired is None:
            log.error("request failed: %s", exc, exc_info=exc)
            return JSONResponse({"error": "internal error", "detail": {"type": type(exc).__name__}}, 500)
        status, body = wired
        return JSONResponse(body, status)

    async def invalid(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [_problem(error) for error in exc.errors()]
        first = errors[0] if errors else {"where": "", "problem": "invalid"}
        return JSONResponse({"error": f"invalid request: {first['where']}: {first['problem']}", "detail": errors},
                            422)

    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return JSONResponse({"error": str(exc.detail), "detail": None}, exc.status_code, headers=exc.headers)

    for kind in (JobStoreError, ValueError, TypeError, Exception):
        app.add_exception_handler(kind, store_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)


def _problem(error: Any) -> dict[str, str]:
    """One validation error as plain JSON (pydantic's may hold exception objects)."""
    where = ".".join(str(part) for part in error.get("loc", ()))
    return {"where": where, "problem": str(error.get("msg", "invalid")), "type": str(error.get("type", ""))}
