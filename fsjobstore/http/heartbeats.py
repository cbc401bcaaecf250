"""A loop's heartbeat record over HTTP: the server keeps it in the store on the loop's
behalf; a server that restarted (and forgot it) gets it registered again."""

from __future__ import annotations

import os
import socket
from collections.abc import Collection
from typing import Any

from ..errors import JobStoreError
from ..interface import Pause, WorkerInfo
from .api import Api


class HttpHeartbeat:
    def __init__(self, api: Api, kind: str, tasks: Collection[str | None] | None, concurrency: int) -> None:
        self._api = api
        self._registration = {"kind": kind, "tasks": None if tasks is None else list(tasks),
                              "concurrency": concurrency, "host": socket.gethostname(), "pid": os.getpid()}
        self.beat_seconds = 1.0
        self._register()

    def _register(self) -> None:
        answer = self._api.call("POST", "/api/heartbeats", json=self._registration)
        self.id, self.beat_seconds = str(answer["id"]), float(answer["beat_seconds"])

    def beat(self, current: list[str], paused: str | None = None) -> list[Pause]:
        body = {"current": current, "paused": paused}
        try:
            answer = self._api.call("POST", f"/api/heartbeats/{self.id}/beat", json=body)
        except JobStoreError:  # (404: a restarted server forgot the record)
            self._register()
            answer = self._api.call("POST", f"/api/heartbeats/{self.id}/beat", json=body)
        return [Pause(**entry) for entry in answer["pauses"]]

    def close(self) -> None:
        self._api.call("DELETE", f"/api/heartbeats/{self.id}")


def workers(api: Api, watch: float) -> list[WorkerInfo]:
    answer: list[dict[str, Any]] = api.call("GET", "/api/heartbeats", params={"watch": watch}, wait=watch)
    return [WorkerInfo(**entry) for entry in answer]
