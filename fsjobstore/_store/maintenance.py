"""Maintenance: removing resolved jobs whose time is up, and leftovers of crashed
writers. Every step is safe to race with any other process, on any host; a
host-local lock only keeps two maintenance runs of one host from doing the same
work twice."""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import partial

from .._arguments import check_seconds
from .._files import folders, fsio
from .._files.folders import Folder
from .._files.ids import check_id
from .._files.layout import MAINTENANCE_LOCK, RECORD_SUFFIX, UNDELIVERED_SUFFIX, Layout
from .._files.records import Record
from ..errors import CorruptJobFile, JobBusy, JobStateError, JobStoreError
from ..interface import Progress
from ..job import PENDING, RUNNING, Job
from . import keys
from .buckets import History
from .context import StoreContext

log = logging.getLogger("fsjobstore")

# Leftovers of crashed writers (temp files, half-done lease take-overs) older than this
# are removed by purge(). Judged on the filesystem's clock alone (file mtimes against
# a probe's), so hosts' clocks do not matter; an hour leaves any live writer, whose
# files are seconds old or renewed every lease_seconds/3, far out of reach.
LEFTOVER_SECONDS = 3600.0
# Jobs removed at once by a purge: each removal waits mostly on the filesystem (a
# journal handle per step on a local disk, a round trip per step over NFS), not
# on Python, and the jobs are independent (each under its own work lease).
PURGE_THREADS = 4
# Past-their-time jobs of a bucket handed to the threads at a time (bounds what is
# queued); fewer than POOL_FROM are removed by the purging thread alone, in order.
POOL_CHUNK = 1024
POOL_FROM = 32
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


def purge(ctx: StoreContext, older_than: float | None, progress: Progress | None) -> int:
    if older_than is not None:
        check_seconds("older_than", older_than, zero=True)
    with maintenance_lock(ctx.layout):
        now = fsio.filesystem_now(ctx.layout.tmp)
        removed = _purge_resolved(ctx, older_than, progress, now)
        for leftover in find_leftovers(ctx.layout, now):
            log.info("purging leftover %s (%s)", leftover.path, leftover.what)
            fsio.remove(leftover.path)
        return removed


def _purge_resolved(ctx: StoreContext, older_than: float | None, progress: Progress | None, now: float) -> int:
    history = History(ctx)
    retention = ctx.options.retention
    # Buckets whose summary says nothing in them is past its time are not read.
    due = [(bucket, summary) for bucket, summary in history.summaries()
           if summary.oldest is None or summary.expires_by(now, older_than, retention)]  # (empty: removed)
    ticker = Ticker(progress, sum(sum(summary.counts.values()) for _, summary in due))
    removed = 0
    with ThreadPoolExecutor(PURGE_THREADS, thread_name_prefix="fsjobstore-purge") as pool:
        for bucket, summary in due:
            folder = ctx.layout.bucket(bucket)
            names = history.names(bucket)
            # A keyed job's key was made before its first record, so one listed here
            # with its key still held has that key in keys/ now: if keys/ is empty, no
            # record need be read for its key.
            keyed = not ctx.layout.keys.is_empty()
            # Every record past its time, by a summary still true after the listing: the
            # listing holds exactly the records it describes, none need be read.
            every = summary.all_expired_by(now, older_than, retention) and history.unchanged(bucket, summary)
            ages = summary.ages or {}
            past: list[tuple[str, tuple[int, int] | None]] = []  # (id, identity to remove or None)
            for job_id in names:
                identity = None
                if every:
                    expired = True
                elif job_id in ages:  # (read just now, by the summary's build: not read again)
                    mtime, expires_in, identity = ages[job_id]
                    keep_for = older_than if older_than is not None else expires_in or retention
                    expired = keep_for is not None and now - mtime >= keep_for
                else:
                    expired = _past_its_time(ctx, folder.join(job_id + RECORD_SUFFIX), job_id, older_than,
                                             retention, now)
                if expired:
                    past.append((job_id, identity))
                else:
                    ticker.tick()
            # Opened here, once: the threads share it (each anchoring it would open it again).
            with suppress(FileNotFoundError):  # (gone: every removal finds no record)
                folder.anchor()
            remove = partial(_purge_past, ctx, keyed, folder)
            # A few at a time: the order and calls of a small purge stay those of one
            # thread; a large one keeps at most POOL_CHUNK removals queued.
            for start in range(0, len(past), POOL_CHUNK):
                chunk = past[start:start + POOL_CHUNK]
                for done in (pool.map(remove, chunk) if len(chunk) >= POOL_FROM else map(remove, chunk)):
                    ticker.tick()
                    removed += done
            history.forget(bucket)
    history.forget_summaries()
    return removed


def _purge_past(ctx: StoreContext, keyed: bool, bucket: Folder, job: tuple[str, tuple[int, int] | None]) -> bool:
    return purge_job(ctx, job[0], job[1], keyed=keyed, bucket=bucket)


def _past_its_time(ctx: StoreContext, path: str, job_id: str, older_than: float | None, retention: float | None,
                   now: float) -> bool:
    # Its age on the filesystem's clock: when its resolved record was written (the
    # file's mtime), not updated_at (the resolver's clock, informational).
    try:
        if older_than is None:
            keep_for = Record.load(path, job_id).get("expires_in") or retention
            if keep_for is None:
                return False
        else:
            keep_for = older_than
        return now - fsio.lstat(path).st_mtime >= keep_for
    except FileNotFoundError:
        return False
    except CorruptJobFile as exc:
        ctx.report(exc)
        return False


def purge_job(ctx: StoreContext, job_id: str, identity: tuple[int, int] | None = None, *,
              keyed: bool = True, bucket: Folder | None = None) -> bool:
    """Remove a resolved job with no waiting targets (given-up ones go with it);
    False if it is in use. Without *keyed* (no job has a key), its record is not
    read. *bucket*: its bucket's folder, opened once for every job of the bucket.

    Under the job's work lease, so that no ``retry`` (which holds it while it makes
    the job pending again) runs meanwhile. With *identity* (inode, ctime), only
    that very record is removed: one resolved again since (retried, then resolved
    anew) is kept."""
    lease = ctx.work_leases.acquire(job_id)
    if lease is None:
        return False  # being retried, or tidied by a puller: next time
    try:
        resolved = (ctx.layout.resolved_path(job_id) if bucket is None
                    else bucket.join(job_id + RECORD_SUFFIX))
        if identity is not None and fsio.identity(resolved) != identity:
            return False
        if ctx.dependencies.needed(job_id):
            return False  # a job made after it is still to run, and may read its value
        record = None
        if keyed:
            try:
                record = Record.load(resolved, job_id)
            except FileNotFoundError:
                return False
            except CorruptJobFile as exc:
                ctx.report(exc)
                return False
        return remove_resolved(ctx, job_id, record, resolved)
    finally:
        lease.release()


def _targets_folder(layout: Layout, job_id: str) -> Folder | None:
    """The job's folder of targets, opened (the one open a listing of it makes), or
    None where it is absent, the common case: then it holds no target, waiting or
    given up. A symlink planted there is never followed: None too."""
    folder = layout.waiting_folder(job_id)
    try:
        folder.anchor()
    except (FileNotFoundError, CorruptJobFile):
        return None
    return folder


def _has_waiting(folder: Folder | None) -> bool:
    """Whether the targets' folder (see _targets_folder) holds a target still waiting."""
    return folder is not None and any(True for _ in folders.scan(folder, RECORD_SUFFIX))


def remove_resolved(ctx: StoreContext, job_id: str, record: Record | None, resolved: str | None = None) -> bool:
    """Remove a resolved job with no waiting targets (given-up ones go with it),
    under its work lease (held by the caller); False if it has targets, or no
    resolved record (*resolved*: its path, if the caller has it at hand).

    The job's key (if *record*, its resolved record, has one and it is still its
    own) is moved aside first:
    while the lease is held nobody finishes a creation from it, and once the job
    is gone the key is free. The resolved record is moved aside before the last
    look for targets: a ``queue`` that saw it wrote its target before, so that
    look finds the target and the record (and key) are put back; a ``queue`` that
    finds it gone (and no pending record) takes its target back and raises
    JobNotFound. A target is delivered or its ``queue`` raised."""
    layout = ctx.layout
    if _has_waiting(_targets_folder(layout, job_id)):
        return False
    if resolved is None:
        resolved = layout.resolved_path(job_id)
    # Temp files' names: a removal that dies holding them leaves ordinary leftovers.
    aside = layout.tmp.join(f"{job_id}.purged-{fsio.temp_names.next()}")
    key_aside = None
    if record is not None and record.get("key") is not None:
        key_aside = layout.tmp.join(f"{job_id}.purged-key-{fsio.temp_names.next()}")
        if not keys.free(ctx, record, key_aside):
            key_aside = None
    try:
        fsio.rename(resolved, aside)
    except FileNotFoundError:
        if key_aside is not None and record is not None:
            keys.restore(ctx, record, key_aside)
        return False
    targets = _targets_folder(layout, job_id)
    if _has_waiting(targets):
        fsio.link(aside, resolved)  # (nothing can make the name meanwhile: no pending record)
        fsio.remove(aside)
        if key_aside is not None and record is not None:
            keys.restore(ctx, record, key_aside)
        return False
    # Absent at the look just made, the folder holds nothing given up either: one a
    # ``queue`` makes from now on is its own, which it removes as it raises.
    if targets is not None:
        for key in list(folders.scan(targets, UNDELIVERED_SUFFIX)):
            fsio.remove(targets.join(key + UNDELIVERED_SUFFIX))
        folders.remove_folder_if_empty(layout.waiting.join(job_id))
    fsio.remove(layout.due.join(job_id))
    fsio.remove(layout.pending_path(job_id))
    fsio.remove(aside)
    if key_aside is not None:
        fsio.remove(key_aside)
    ctx.dependencies.forget(job_id)
    return True


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
            # Its folder too, while the record is there: a crash past the record's
            # removal then leaves no targets' folder of a job that does not exist.
            folders.remove_folder_if_empty(ctx.layout.waiting.join(job_id))
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
        self.done += 1
        if self.progress is not None and (self.done % 1000 == 0 or self.done == self.total):
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


def find_leftovers(layout: Layout, now: float) -> Iterator[Leftover]:
    """Files of crashed writers that nothing will use again: each rule once, for
    purge (which removes them) and check (which reports them). *now* is on the
    filesystem's clock (store_now), the one file mtimes are set by."""
    lease_folders = (layout.work_leases, layout.notify_leases, layout.resource_leases)
    workers = layout.workers_folder()
    for folder in (layout.tmp, *lease_folders, layout.holders, workers):
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
