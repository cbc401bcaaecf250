"""Heartbeat records of running loops (``workers/<id>.json``), and whether each is alive.

A loop rewrites its record every ``BEAT_SECONDS`` (replace-by-rename, so a reader
never sees half of one) with a beat counter and the jobs it holds. Liveness is
judged without comparing clocks between hosts: on the reader's host, by whether
the process exists; elsewhere, by whether the record changes, watched on the
reader's own monotonic clock, as lease expiry is.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Collection
from typing import Any

from .._files import folders, fsio
from .._files.layout import RECORD_SUFFIX
from .._files.times import now_text
from ..errors import CorruptJobFile
from ..interface import Pause, WorkerInfo
from .context import StoreContext

BEAT_SECONDS = 1.0
# A record unchanged for this many beats of the reader's clock belongs to a dead
# (or hung) loop.
SILENT_BEATS = 3
_HOST = socket.gethostname()


class WorkerRecord:
    """This process's record of one running loop."""

    beat_seconds = BEAT_SECONDS

    def __init__(self, ctx: StoreContext, kind: str, tasks: Collection[str | None] | None, concurrency: int, *,
                 host: str | None = None, pid: int | None = None) -> None:
        self._ctx = ctx
        self._folder = ctx.layout.workers_folder()
        folders.make_folder(self._folder.path, shared=ctx.options.group_shared)
        host, pid = host or _HOST, os.getpid() if pid is None else pid
        # (the host as a file name: a remote loop's host name is not ours to trust)
        self.id = f"{''.join(c if c.isalnum() or c in '.-' else '_' for c in host)[:64]}-{pid}-{os.urandom(4).hex()}"
        self._fields: dict[str, Any] = {
            "id": self.id, "kind": kind, "host": host, "pid": pid, "started_at": now_text(),
            "tasks": None if tasks is None else sorted(tasks, key=lambda t: (t is None, t or "")),
            "concurrency": concurrency, "current": [], "beats": 0, "beat_seconds": BEAT_SECONDS,
            "updated_at": now_text(),
        }
        self._write()

    def beat(self, current: list[str], paused: str | None = None) -> list[Pause]:
        self._fields.update(current=sorted(current), beats=self._fields["beats"] + 1, updated_at=now_text())
        if paused is None:
            self._fields.pop("paused", None)
        else:
            self._fields["paused"] = paused
        self._write()
        return list(self._ctx.pauses.current())

    def close(self) -> None:
        fsio.remove(self._folder.join(self.id + RECORD_SUFFIX))

    def _write(self) -> None:
        data = (json.dumps(self._fields, ensure_ascii=False) + "\n").encode()
        fsio.publish(self._ctx.layout.tmp, self._folder, self.id + RECORD_SUFFIX, data, durable=False, replace=True)


class WorkerWatch:
    """What one store object saw of every record: content, and when (its own clock)
    it first saw that content."""

    def __init__(self, ctx: StoreContext) -> None:
        self._ctx = ctx
        # name -> (content, when first seen so, whether seen to change before that)
        self._seen: dict[str, tuple[bytes, float, bool]] = {}

    def workers(self, watch: float) -> list[WorkerInfo]:
        deadline = time.monotonic() + watch
        while True:
            found = self._look()
            if all(info.alive is not None for info in found) or time.monotonic() >= deadline:
                return found
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    def _look(self) -> list[WorkerInfo]:
        folder = self._ctx.layout.workers_folder()
        found, seen = [], {}
        for name in sorted(folder.names()):
            if not name.endswith(RECORD_SUFFIX):
                continue
            path = folder.join(name)
            try:
                content = fsio.read(path)
                fields = json.loads(content)
            except (FileNotFoundError, CorruptJobFile, ValueError):
                continue  # gone, planted or torn: not a loop's record
            before = self._seen.get(name)
            if before is not None and before[0] == content:
                entry = before
            else:
                entry = (content, time.monotonic(), before is not None)
            seen[name] = entry
            try:
                found.append(_info(fields, _alive(fields, time.monotonic() - entry[1], entry[2])))
            except (KeyError, TypeError, ValueError):
                continue
        self._seen = seen
        return found


def _alive(fields: dict[str, Any], unchanged_for: float, changed: bool) -> bool | None:
    silent = unchanged_for >= SILENT_BEATS * float(fields["beat_seconds"])
    if fields["host"] == _HOST:
        return not silent and _process_exists(int(fields["pid"]))
    if silent:
        return False
    return True if changed else None


def _process_exists(pid: int) -> bool:
    """Whether *pid* runs on this host (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except OSError:
        return True  # no /proc: kill() said it exists


def _info(fields: dict[str, Any], alive: bool | None) -> WorkerInfo:
    return WorkerInfo(
        id=str(fields["id"]), kind=str(fields["kind"]), host=str(fields["host"]), pid=int(fields["pid"]),
        started_at=str(fields["started_at"]), tasks=fields["tasks"], concurrency=int(fields["concurrency"]),
        current=list(fields["current"]), beats=int(fields["beats"]), beat_seconds=float(fields["beat_seconds"]),
        alive=alive, paused=None if fields.get("paused") is None else str(fields["paused"]),
    )
