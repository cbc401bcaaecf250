"""Maintenance: one purge or repair at a time on a host, the removal of one
resolved job now (delete), and the leftovers of crashed writers. Every step is
safe to race with any other process, on any host; the host-local lock only keeps
two maintenance runs of one host from doing the same work twice."""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .._files import folders, fsio
from .._files.ids import check_id
from .._files.layout import MAINTENANCE_LOCK, Layout
from .._files.pending_buckets import bucket_names
from ..errors import JobBusy, JobStateError, JobStoreError
from ..interface import Progress
from ..job import PENDING, RUNNING, Job
from .context import StoreContext
from .removal import remove_resolved

log = logging.getLogger("fsjobstore")

# Leftovers of crashed writers (temp files, half-done lease take-overs) older than this
# are removed by purge(). Judged on the filesystem's clock alone (file mtimes against
# a probe's), so hosts' clocks do not matter; an hour leaves any live writer, whose
# files are seconds old or renewed every lease_seconds/3, far out of reach.
LEFTOVER_SECONDS = 3600.0
# Rounds of delete() against targets queued as it removes them (each round is one queue's race).
DELETE_TRIES = 10


@contextmanager
def maintenance_lock(layout: Layout) -> Iterator[None]:
    """One purge, repair or migration at a time on this host (flock; other hosts may
    run theirs concurrently: every step is safe to race, this only saves work)."""
    # Opened here, through the store's anchored folder and never through a
    # symlink, whatever a lock library would do with a planted one.
    fd = fsio.open_lock(layout.top, MAINTENANCE_LOCK)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise JobStoreError(f"another purge or repair is running on {layout.root} on this host") from None
        yield
    finally:
        os.close(fd)  # (releases the flock)


def delete(ctx: StoreContext, job_id: str) -> Job:
    """Remove one resolved job now, whatever its age, with its waiting targets; the
    job as it was. A pending or running job is refused (cancel it first).

    Purge's steps for one job, after the targets are unlinked: a crash among the
    unlinks leaves a resolved job with fewer targets (deleting it again finishes);
    a target queued after them (a ``queue`` that saw the record) makes the removal
    put the record back, and its targets are unlinked again."""
    check_id(job_id)
    lease = ctx.work_leases.acquire(job_id)
    if lease is None:
        _, state = ctx.read(job_id)  # (JobNotFound if there is no such job)
        if state in (PENDING, RUNNING):
            raise JobStateError(f"job {job_id!r} is {state}: cancel it first, then delete it")
        raise JobBusy(job_id)  # resolved, and being retried or removed by someone else
    try:
        record, _ = ctx.read(job_id)  # (it reads "running": the lease is ours)
        if record.state == PENDING:
            raise JobStateError(f"job {job_id!r} is pending: cancel it first, then delete it")
        job = ctx.job(record)
        for _ in range(DELETE_TRIES):
            folder = ctx.layout.waiting_folder(job_id)  # (anew: a removal may have removed it)
            for name in folder.names():
                fsio.remove(folder.join(name))
            # Its folder and due marker too, while the record is there: a crash past
            # the record's removal then leaves neither of a job that does not exist
            # (and the removal, finding no folder, looks for no marker).
            folders.remove_folder_if_empty(ctx.layout.waiting.join(job_id))
            fsio.remove_in(ctx.layout.due, job_id)
            if remove_resolved(ctx, job_id, record):
                return job
        raise JobBusy(job_id)  # targets queued on it as fast as they are removed
    finally:
        lease.release()


class Ticker:
    """Calls ``progress(done, total)`` every thousand items and at the last."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress = progress
        self.total = total
        self.done = 0

    def tick(self) -> None:
        self.advance(1)

    def advance(self, items: int) -> None:
        """*items* more done: reported if a thousand or the last was passed."""
        if items <= 0:
            return
        before, self.done = self.done, self.done + items
        if self.progress is not None and (self.done // 1000 > before // 1000 or self.done == self.total):
            self.progress(self.done, self.total)


@dataclass(frozen=True)
class Leftover:
    path: str
    what: str


def store_now(layout: Layout, *, strict: bool) -> float:
    """Now on the store's filesystem clock (see fsio.filesystem_now). Not *strict*
    (a check that only reports), where nothing can be written: this host's clock."""
    try:
        return fsio.filesystem_now(layout.tmp)
    except OSError:
        if strict:
            raise
        return time.time()


def remove_empty_buckets(layout: Layout) -> None:
    """Remove every empty bucket folder of pending records (``pending/`` and the queue
    folders), so that their parents hold only buckets of live jobs. Race-free: rmdir
    refuses a folder that is not empty, so a record published before the rmdir keeps
    its bucket; a writer that publishes through a bucket removed since it opened it
    fails with ENOENT, makes the bucket again and publishes once more
    (``StoreContext.into_pending``); a reader goes by names, never by a bucket it
    opened before."""
    for parent in layout.pending_parents():
        for name in bucket_names(parent):
            folders.remove_empty_in(parent, name)


def find_leftovers(layout: Layout, now: float) -> Iterator[Leftover]:
    """Files of crashed writers that nothing will use again: each rule once, for
    purge (which removes them) and check (which reports them). *now* is on the
    filesystem's clock (store_now), the one file mtimes are set by."""
    lease_folders = (layout.work_leases, layout.notify_leases, layout.resource_leases)
    workers = layout.workers_folder()
    for folder in [layout.tmp, *lease_folders, layout.holders, workers]:
        for name in folder.names():
            path = folder.join(name)
            try:
                info = fsio.lstat(path)
            except FileNotFoundError:
                continue
            if now - info.st_mtime < LEFTOVER_SECONDS:
                continue
            what = None
            if folder is layout.tmp:
                what = "temp file of a crashed writer"
            elif "." in name and folder in lease_folders:
                what = "take-over file of a crashed contender"
            elif folder is layout.work_leases and not fsio.exists(layout.pending_path(name)):
                what = "old lease on a job that is no longer pending"
            elif folder is layout.notify_leases and not fsio.exists(layout.due.join(name)):
                what = "old lease on a job with nothing due"
            elif folder is layout.holders and info.st_nlink == 1:
                # dead, or idle for an hour (a live one makes a new record when it next leases)
                what = "holder record with no lease linked to it"
            elif folder is workers:
                what = "heartbeat record of a loop that stopped beating"  # (a live one beats every second)
            if what is not None:
                yield Leftover(path, what)
