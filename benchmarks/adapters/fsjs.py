"""fsjobstore itself: claim = pull_work, done = lease.fulfill(b"ok") + release."""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from fsjobstore import JobStore

from .base import Adapter, Claimed, Job


class FsJobStore(Adapter):
    """JobStore(durable=True); claim = pull_work, done = lease.fulfill(b"ok") + release()."""

    name = "fsjobstore"
    durable: ClassVar[bool] = True
    keeps_resolved = True

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.store = JobStore(path, durable=self.durable)
        self._wait = getattr(self.store, "wait_for_work", None)
        self.wake_mode = "wait_for_work" if self._wait else "poll 1 ms"

    def put(self, job: Job) -> None:
        self.store.create(job)

    def claim(self) -> Claimed | None:
        lease = self.store.pull_work()
        return None if lease is None else Claimed(lease.request, lease)

    def done(self, claimed: Claimed) -> None:
        claimed.handle.fulfill(b"ok")
        claimed.handle.release()

    def wait_claim(self, timeout: float) -> Claimed | None:
        if self._wait is None:
            return super().wait_claim(timeout)
        got = self._wait(timeout)
        if hasattr(got, "request"):  # wait_for_work may hand the lease over
            return Claimed(got.request, got)
        return self.claim()

    def close(self) -> None:
        self.store.close()


class FsJobStoreNonDurable(FsJobStore):
    """The same with JobStore(durable=False)."""

    name = "fsjobstore-nondurable"
    durable = False
