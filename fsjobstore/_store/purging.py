"""Purge: the resolved jobs past their time, found bucket by bucket and removed by
a few threads, each under its own work lease (docs/format.md, "purge")."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass

from .._arguments import check_seconds
from .._files import folders, fsio
from .._files.fieldlines import expires_in_of
from .._files.layout import RECORD_SUFFIX
from ..errors import CorruptJobFile
from ..interface import Progress
from .buckets import Entry, History, Summary
from .context import StoreContext
from .maintenance import Ticker, find_leftovers, maintenance_lock, remove_empty_buckets
from .removal import Expected, purge_job

log = logging.getLogger("fsjobstore")

# Jobs removed at once by a purge where each removal waits on the filesystem (a
# round trip per step over NFS, the journal on a busy disk) more than it computes:
# the jobs are independent (each under its own work lease), and the threads wait
# together. Where the steps return at once (a local disk at rest) the threads only
# take the interpreter's lock from each other at every step, costing more than
# they save: the purging thread then removes them alone.
PURGE_THREADS = 4
# Past-their-time jobs of a bucket handed to the threads at a time (bounds what is
# queued), each thread taking a share; fewer than POOL_FROM are removed by the
# purging thread alone, in order. The first POOL_FROM of each chunk are removed by
# it alone too, timed: the pool takes the rest only if they waited longer than
# they computed.
POOL_CHUNK = 1024
POOL_FROM = 32

# A job past its time: id, and what its resolved record must still be (see removal.Expected).
Past = tuple[str, Expected]


def purge(ctx: StoreContext, older_than: float | None, progress: Progress | None) -> int:
    if older_than is not None:
        check_seconds("older_than", older_than, zero=True)
    with maintenance_lock(ctx.layout):
        now = fsio.filesystem_now(ctx.layout.tmp)
        removed = _Purge(ctx, Ages(now, older_than, ctx.options.retention)).run(progress)
        for leftover in find_leftovers(ctx.layout, now):
            log.info("purging leftover %s (%s)", leftover.path, leftover.what)
            fsio.remove(leftover.path)
        remove_empty_buckets(ctx.layout)
        return removed


@dataclass(frozen=True)
class Ages:
    """When a resolved record is past its time: *now* on the filesystem's clock, the
    clock its mtime (when it was written) is set by; ``older_than``, else its own
    ``expires_in``, else the store's retention (None: kept)."""

    now: float
    older_than: float | None
    retention: float | None

    def past(self, mtime: float, expires_in: float | None) -> bool:
        keep_for = self.older_than if self.older_than is not None else expires_in or self.retention
        return keep_for is not None and self.now - mtime >= keep_for

    def any_past(self, summary: Summary) -> bool:
        return summary.expires_by(self.now, self.older_than, self.retention)

    def all_past(self, summary: Summary) -> bool:
        return summary.all_expired_by(self.now, self.older_than, self.retention)


class _Purge:
    """One purge of the resolved buckets, oldest first.

    Buckets are read lean (an lstat per record, and its ``expires_in``: from what an
    earlier read of the bucket learnt, or its record) while they hold jobs past
    their time: a summary of records about to be removed is of no use. From the
    first bucket with nothing past its time on (the young ones), each is read
    through its summary, built and saved if need be, so that the next purge, and
    ``stats``, read none of their records."""

    def __init__(self, ctx: StoreContext, ages: Ages) -> None:
        self.ctx = ctx
        self.layout = ctx.layout
        self.ages = ages
        self.history = History(ctx)
        self.lean = True

    def run(self, progress: Progress | None) -> int:
        buckets = self.layout.buckets()
        counts = self._counts(buckets) if progress is not None else {}
        ticker = Ticker(progress, sum(counts.values()))
        removed = 0
        with ThreadPoolExecutor(PURGE_THREADS, thread_name_prefix="fsjobstore-purge") as pool:
            for bucket in buckets:
                reached = ticker.done + counts.get(bucket, 0)
                past = self._past(bucket)
                if past:
                    removed += self._remove(pool, bucket, past, ticker, reached)
                ticker.advance(reached - ticker.done)
                self.history.forget(bucket)
        self.history.forget_summaries()
        return removed

    def _counts(self, buckets: Sequence[str]) -> dict[str, int]:
        """For the progress's total: how many records each bucket that may hold jobs
        past their time holds (by its summary, else by listing it)."""
        counts = {}
        for bucket in buckets:
            summary = self.history.known(bucket)
            if summary is None:
                counts[bucket] = folders.count(self.layout.bucket(bucket), RECORD_SUFFIX)
            elif summary.oldest is not None and self.ages.any_past(summary):
                counts[bucket] = sum(summary.counts.values())
        return counts

    def _past(self, bucket: str) -> list[Past]:
        """The jobs of *bucket* past their time."""
        history, ages = self.history, self.ages
        summary = history.known(bucket) if self.lean else history.summary(bucket)
        if summary is not None:
            if summary.oldest is None:
                return []  # (empty: removed)
            if not ages.any_past(summary):
                self.lean = False
                return []
        if summary is not None and summary.ages is not None:  # (built just now: each record read)
            past: list[Past] = [(job_id, _same(identity))
                                for job_id, (mtime, expires_in, identity) in summary.ages.items()
                                if ages.past(mtime, expires_in)]
        else:
            names = history.names(bucket)
            if summary is not None and ages.all_past(summary) and history.unchanged(bucket, summary):
                # Every record past its time, by a summary still true after the listing:
                # none is read, unless it is no longer a file an earlier read of the
                # bucket saw (written again, or touched to be kept longer, since).
                entries = history.entries(bucket)
                return [(job_id, self._described(bucket, job_id, entries.get(job_id))) for job_id in names]
            past = list(self._read(bucket, names))
            if not past and summary is None:
                history.summary(bucket)  # (the first young bucket: its summary, for the next purge)
        if not past:
            self.lean = False
        return past

    def _read(self, bucket: str, names: list[str]) -> Iterator[Past]:
        """The jobs of *names* past their time, each record's age by an lstat, and its
        own ``expires_in`` (unless ``older_than`` decides) from what an earlier read
        of the bucket learnt of that very file, else from the record."""
        ctx, ages = self.ctx, self.ages
        folder = self.layout.bucket(bucket)
        entries = self.history.entries(bucket) if ages.older_than is None else {}
        for job_id in names:
            path = folder.join(job_id + RECORD_SUFFIX)
            try:
                info = fsio.lstat(path)  # (before the read: see buckets.build)
                identity = (info.st_ino, info.st_ctime_ns)
                expires_in = None
                if ages.older_than is None:
                    entry = entries.get(job_id)
                    if entry is not None and (entry[4], entry[5]) == identity:
                        expires_in = entry[3]
                    else:
                        expires_in = expires_in_of(path, job_id)
            except FileNotFoundError:
                continue
            except CorruptJobFile as exc:
                ctx.report(exc)
                continue
            if ages.past(info.st_mtime, expires_in):
                yield job_id, _same(identity)

    def _described(self, bucket: str, job_id: str, entry: Entry | None) -> Expected:
        """That the job's record is past its time, in a bucket its summary judged
        whole: the very file *entry* (an earlier read) describes, which the summary
        judged; any other file by its own mtime and ``expires_in``. A record's mtime
        alone says nothing here: a touch or a clock set back can date a record
        written since before the newest the summary describes."""
        described = None if entry is None else (entry[4], entry[5])

        def expected(info: os.stat_result) -> bool:
            if (info.st_ino, info.st_ctime_ns) == described:
                return True
            expires_in = None
            if self.ages.older_than is None:
                try:
                    expires_in = expires_in_of(self.layout.bucket(bucket).join(job_id + RECORD_SUFFIX), job_id)
                except CorruptJobFile as exc:
                    self.ctx.report(exc)
                    return False
            return self.ages.past(info.st_mtime, expires_in)
        return expected

    def _remove(self, pool: ThreadPoolExecutor, bucket: str, past: list[Past], ticker: Ticker, reached: int) -> int:
        """Remove the jobs of *past*, of *bucket*: by this thread, in order, unless the
        removals wait on the filesystem; then the pool's threads take each chunk's
        rest, each a share."""
        ctx, layout = self.ctx, self.layout
        folder = layout.bucket(bucket)
        # Opened here, once: the threads share it (each anchoring it would open it again).
        with suppress(FileNotFoundError):  # (gone: every removal finds no record)
            folder.anchor()
        # A keyed job's key was made before its first record, so one listed here
        # with its key still held has that key in keys/ now: if keys/ is empty, no
        # record need be read for its key.
        keyed = not layout.keys.is_empty()

        def remove(jobs: Sequence[Past]) -> int:
            return sum(purge_job(ctx, job_id, expected, folder, keyed=keyed) for job_id, expected in jobs)

        removed = 0
        try:
            for start in range(0, len(past), POOL_CHUNK):
                chunk = past[start:start + POOL_CHUNK]
                wall, cpu = time.perf_counter(), time.thread_time()
                removed += remove(chunk[:POOL_FROM])
                computed = time.thread_time() - cpu
                rest = chunk[POOL_FROM:]
                if rest and time.perf_counter() - wall - computed > computed:
                    shares = [pool.submit(remove, rest[n::PURGE_THREADS]) for n in range(PURGE_THREADS)]
                    removed += sum(share.result() for share in shares)
                else:
                    removed += remove(rest)
                ticker.advance(min(len(chunk), reached - ticker.done))
        finally:
            folder.close()  # (every share has returned: closed now, not when collected)
        return removed


def _same(identity: tuple[int, int]) -> Expected:
    """That the record is still the file of *identity* (inode, ctime)."""
    return lambda info: (info.st_ino, info.st_ctime_ns) == identity

