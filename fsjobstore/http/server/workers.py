"""The workers the server has heard from: each HTTP client by the name it gives
(``X-Fsjobstore-Client``, host:pid for HttpStore), with the tasks it asks for and
when it was last heard. A worker is alive while it has been heard from within a
lease's length: the rule by which its leases would be given back."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

# A worker silent this long is forgotten (it would stay listed as dead otherwise).
FORGET_SECONDS = 3600.0


@dataclass
class Worker:
    name: str
    address: str
    tasks: list[str | None] | None = None  # what its last pull for work asked for (None: any task)
    pulls: int = 0  # pulls for work
    last_seen: float = field(default_factory=time.monotonic)
    last_seen_at: float = field(default_factory=time.time)


def client_name(request: Request) -> str:
    """The name a client gives, or its address."""
    host = request.client.host if request.client else "?"
    return request.headers.get("x-fsjobstore-client", "")[:200] or host


class Workers:
    def __init__(self) -> None:
        self._seen: dict[str, Worker] = {}
        self._lock = threading.Lock()

    def heard(self, request: Request, *, pulled: bool = False, tasks: list[str | None] | None = None) -> str:
        """Record that a client was heard from (a pull for work says which tasks it wants); returns its name."""
        name = client_name(request)
        with self._lock:
            worker = self._seen.get(name)
            if worker is None:
                worker = self._seen[name] = Worker(name, request.client.host if request.client else "?")
            worker.last_seen, worker.last_seen_at = time.monotonic(), time.time()
            if pulled:
                worker.pulls += 1
                worker.tasks = tasks
        return name

    def rows(self, alive_within: float, jobs: dict[str, list[str]]) -> list[dict[str, Any]]:
        """Every worker heard from in the last hour, with the jobs it holds now."""
        now = time.monotonic()
        with self._lock:
            for name in [n for n, w in self._seen.items() if now - w.last_seen > FORGET_SECONDS]:
                del self._seen[name]
            workers = sorted(self._seen.values(), key=lambda w: w.name)
        return [
            {"name": w.name, "address": w.address, "tasks": w.tasks, "pulls": w.pulls,
             "jobs": jobs.get(w.name, []), "last_seen_at": w.last_seen_at,
             "silent_for": round(now - w.last_seen, 3), "alive": now - w.last_seen <= alive_within}
            for w in workers
        ]
