"""fsjobstore itself: claim = pull_work, done = lease.fulfill(b"ok") + release."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

from fsjobstore import JobStore
from fsjobstore._files.wakeup import watch_failure
from fsjobstore.interface import WakeSignal

from .base import Adapter, Claimed, Job


def wake_mode(store: JobStore) -> str:
    """How a loop on *store* learned of new work, as the wake-up columns show it
    (asked after the run: a watch that failed to start left the loops polling)."""
    failure = watch_failure() if store.watch else None
    if store.watch and failure is None:
        return f"watchdog + {store.poll_interval:g} s poll"
    polling = f"polling every {store.poll_interval * 1000:g} ms"
    return polling if failure is None else f"{polling} (watchdog failed: {failure})"


class FsJobStore(Adapter):
    """JobStore(durable=True); claim = pull_work, done = lease.fulfill(b"ok") + release(); waits as Worker does."""

    name = "fsjobstore"
    durable: ClassVar[bool] = True
    #: JobStore options other than ``durable``
    options: ClassVar[dict[str, Any]] = {}
    keeps_resolved = True

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.store = JobStore(path, durable=self.durable, create=True, **self.options)
        self._signal: WakeSignal | None = None

    def wake_by(self) -> str:
        return wake_mode(self.store)

    def put(self, job: Job) -> None:
        self.store.create(job)

    def claim(self) -> Claimed | None:
        lease = self.store.pull_work()
        return None if lease is None else Claimed(lease.request, lease)

    def done(self, claimed: Claimed) -> None:
        claimed.handle.fulfill(b"ok")
        claimed.handle.release()

    def wait_claim(self, timeout: float) -> Claimed | None:
        # The wait of Loop._thread_main (one signal per waiting thread, kept for
        # its life), so the wake-up workload measures what users run.
        if self._signal is None:
            self._signal = self.store.work_signal()
        end = time.monotonic() + timeout
        while True:
            self._signal.clear()  # before the pull: a job created during it still wakes the wait
            claimed = self.claim()
            left = end - time.monotonic()
            if claimed is not None or left <= 0:
                return claimed
            self._signal.wait(min(self.store.poll_interval, left))

    def close(self) -> None:
        if self._signal is not None:
            self.store.stop_signal(self._signal)
        self.store.close()


class FsJobStoreNonDurable(FsJobStore):
    """The same with JobStore(durable=False)."""

    name = "fsjobstore-nondurable"
    durable = False


class FsJobStorePolling(FsJobStore):
    """The same with JobStore(watch=False, poll_interval=0.05): wake-ups by polling alone (only in wake-up runs)."""

    name = "fsjobstore-polling"
    options = {"watch": False, "poll_interval": 0.05}
    # Its puts, claims and notifications are the durable store's: only waiting differs.
    workloads = ("wakeup", "worker-wakeup")
