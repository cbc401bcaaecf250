"""Leases handed out over HTTP: a random token per lease, kept only while its client renews.

The server holds the store's own lease (which the store renews on disk in its
own thread) on the client's behalf. A client that stops renewing for the
lease's length is treated as a dead holder: the reaper gives the job back,
counting the attempt as a take-over does, so another worker can take it.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ...errors import JobAlreadyResolved, JobStoreError, LeaseLost
from ...interface import LossReason
from ...interface import NotificationHandle as NotificationLease
from ...interface import WorkHandle as WorkLease
from ..wire import LeaseEnded

log = logging.getLogger("fsjobstore")

Handle = WorkLease | NotificationLease

# What the reaper records as the failed attempt of a silent client.
SILENT = "lease expired: its HTTP client stopped renewing it"
# Reaped tokens remembered (oldest forgotten first), so that a client back from
# a pause is told its lease expired rather than that it never existed.
REMEMBERED = 10_000


@dataclass
class Entry:
    """One lease held for a client."""

    token: str
    handle: Handle
    seconds: float
    client: str
    last_seen: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False

    @property
    def kind(self) -> str:
        return "work" if isinstance(self.handle, WorkLease) else "notification"


class Registry:
    """Token -> held lease, with a reaper thread for clients that went silent."""

    def __init__(self, resolved: Callable[[str], bool]) -> None:
        """*resolved(job_id)* tells whether a job is resolved (to say why a lease was lost)."""
        self._resolved = resolved
        self._entries: dict[str, Entry] = {}
        self._reaped: dict[str, str] = {}  # token -> job id (insertion order: oldest first)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.reaped = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._reap_loop, name="fsjobstore-http-reaper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop reaping and give every lease back (their clients will get 410)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        with self._lock:
            entries, self._entries = list(self._entries.values()), {}
        for entry in entries:
            with entry.lock:
                entry.closed = True
                entry.handle.release()

    def add(self, handle: Handle, seconds: float, client: str) -> Entry:
        entry = Entry(secrets.token_urlsafe(24), handle, seconds, client)
        with self._lock:
            self._entries[entry.token] = entry
        return entry

    def entries(self) -> list[Entry]:
        with self._lock:
            return list(self._entries.values())

    @contextmanager
    def using(self, token: str) -> Iterator[Entry]:
        """The live entry of *token*, locked against the reaper while it is used.

        Raises LeaseLost for an unknown token (reaped, committed, released, or
        from before a restart) or a lease the store knows is lost. After the
        block, a lease the store released (a commit) or lost is forgotten.
        """
        with self._lock:
            entry = self._entries.get(token)
            if entry is not None:
                entry.last_seen = time.monotonic()
            reaped = self._reaped.get(token)
        if reaped is not None:
            raise LeaseEnded(f"the lease on job {reaped} expired: its client stopped renewing it",
                             LossReason.TAKEN_OVER)
        if entry is None:
            raise LeaseEnded("no such lease: it was released or committed, or the server restarted",
                             LossReason.REMOVED)
        with entry.lock:
            if entry.closed:
                raise LeaseEnded(f"the lease on job {entry.handle.id} expired: its client stopped renewing it",
                                 LossReason.TAKEN_OVER)
            try:
                if entry.handle.compromised:
                    raise LeaseEnded(f"the lease on job {entry.handle.id} was lost", self._why(entry))
                yield entry
            finally:
                if entry.handle.released or entry.handle.compromised:
                    self._forget(entry)

    def _why(self, entry: Entry) -> LossReason:
        """Why the store's lease was lost, as far as can be told from here."""
        try:
            resolved = self._resolved(entry.handle.id)
        except (JobStoreError, OSError):  # (purged meanwhile, unreadable: no more can be told)
            resolved = False
        return LossReason.RESOLVED_ELSEWHERE if resolved else LossReason.REMOVED

    def release(self, token: str) -> None:
        """Give the lease of *token* up (nothing if it is already gone)."""
        with self._lock:
            entry = self._entries.get(token)
        if entry is None:
            return
        with entry.lock:
            self._forget(entry)

    def _forget(self, entry: Entry) -> None:
        """(Called holding entry.lock.)"""
        entry.closed = True
        with self._lock:
            self._entries.pop(entry.token, None)
        entry.handle.release()

    def _reap_loop(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self.reap()
            except Exception:
                log.exception("reaping silent HTTP leases failed; trying again")

    def reap(self) -> int:
        """Give back the leases of clients silent for a lease's length; return how many."""
        now = time.monotonic()
        with self._lock:
            silent = [e for e in self._entries.values() if now - e.last_seen > e.seconds]
        reaped = 0
        for entry in silent:
            if not entry.lock.acquire(blocking=False):
                continue  # in use by a request now: its client is not silent
            try:
                if entry.closed or time.monotonic() - entry.last_seen <= entry.seconds:
                    continue
                self._forget_silent(entry)
                reaped += 1
            finally:
                entry.lock.release()
        self.reaped += reaped
        return reaped

    def _forget_silent(self, entry: Entry) -> None:
        entry.closed = True
        with self._lock:
            self._entries.pop(entry.token, None)
            self._reaped[entry.token] = entry.handle.id
            while len(self._reaped) > REMEMBERED:
                del self._reaped[next(iter(self._reaped))]
        handle = entry.handle
        log.warning("HTTP client %s went silent holding job %s: giving the job back", entry.client, handle.id)
        try:
            if isinstance(handle, WorkLease) and not handle.compromised:
                handle.fail(SILENT, retry=True)  # fenced, and counts the attempt as a take-over would
        except (LeaseLost, JobAlreadyResolved):
            pass  # lost or resolved meanwhile: nothing to give back
        finally:
            handle.release()
