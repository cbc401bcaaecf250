"""What every request handler shares: the store, the HTTP leases, the settings."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import anyio

from ..._store.workers import WorkerRecord
from ...store import JobStore
from .census import CensusCache
from .leases import Registry
from .workers import Workers

DEFAULT_MAX_BODY = 32 * 1024 * 1024
# Threads for requests that wait (long-polls, a job's resolution): their own budget,
# so that waiting clients never take the threads every other request runs in.
WAITING_THREADS = 1000


@dataclass(frozen=True)
class Settings:
    """How the server is reached and guarded.

    * ``token``: bearer token for everything; ``read_token``: for reads only.
    * ``no_auth``: serve without tokens; refused unless the host is loopback.
    * ``max_body``: the largest request body accepted, in bytes (413 beyond).
    * ``poll_interval``: how often the event stream looks at the store's counts.
    """

    token: str | None = None
    read_token: str | None = None
    no_auth: bool = False
    max_body: int = DEFAULT_MAX_BODY
    poll_interval: float = 1.0
    host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        if self.no_auth:
            if self.token or self.read_token:
                raise ValueError("--no-auth and tokens exclude each other")
            if not is_loopback(self.host):
                raise ValueError(f"--no-auth is only allowed on a loopback address, not {self.host!r}")
        elif not self.token:
            raise ValueError("an admin token is required (--token), or --no-auth on a loopback address")
        if self.token and self.token == self.read_token:
            raise ValueError("the read-only token must differ from the admin token")
        if self.max_body < 1024:
            raise ValueError(f"max_body must be at least 1024 bytes, not {self.max_body}")
        if not self.poll_interval > 0:
            raise ValueError(f"poll_interval must be positive, not {self.poll_interval}")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Context:
    store: JobStore
    settings: Settings
    leases: Registry = field(init=False)
    workers: Workers = field(default_factory=Workers)
    # heartbeat records the server keeps for loops over HTTP, by id
    heartbeats: dict[str, WorkerRecord] = field(default_factory=dict)
    last_check: dict[str, Any] | None = None
    waiting: anyio.CapacityLimiter | None = None  # (made in the app's event loop, at startup)
    census: CensusCache = field(init=False)

    def __post_init__(self) -> None:
        self.leases = Registry(lambda job_id: self.store.get(job_id).resolved)
        self.census = CensusCache(self.store)

    def waiters(self) -> anyio.CapacityLimiter:
        assert self.waiting is not None, "the app has not started"
        return self.waiting
