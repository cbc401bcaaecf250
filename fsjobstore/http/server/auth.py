"""Bearer tokens: the admin token may do everything, the read-only token may read."""

from __future__ import annotations

import hmac
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .context import Context

Role = Literal["admin", "read"]

_bearer = HTTPBearer(auto_error=False, description="The admin token, or the read-only token for reads.")


def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def role(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Role:
    """The caller's role; 401 without a known token (unless the server runs without auth)."""
    settings = context(request).settings
    if settings.no_auth:
        return "admin"
    given = credentials.credentials.encode() if credentials is not None else b""
    # compare_digest: no timing hint of how much of a guess was right
    if given and settings.token and hmac.compare_digest(given, settings.token.encode()):
        return "admin"
    if given and settings.read_token and hmac.compare_digest(given, settings.read_token.encode()):
        return "read"
    raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})


def reader(who: Annotated[Role, Depends(role)]) -> Role:
    return who


def writer(who: Annotated[Role, Depends(role)]) -> Role:
    if who != "admin":
        raise HTTPException(403, "the read-only token may not change the store")
    return who


Read = Annotated[Role, Depends(reader)]
Write = Annotated[Role, Depends(writer)]
Ctx = Annotated[Context, Depends(context)]
