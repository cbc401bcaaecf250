"""Reading a store without changing it: one job, every job, counts, waiting for a
resolution, and the wake-up signals loops wait on."""

from __future__ import annotations

import heapq
import itertools
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping

from .._files import folders, fsio
from .._files.folders import Folder
from .._files.ids import check_id, is_valid_id
from .._files.layout import BUCKET_CHARS, RECORD_SUFFIX
from .._files.pending_buckets import bucket_names, skipped
from .._files.records import Record
from .._files.wakeup import APPEARED, VANISHED, Signal, unwatch, watch
from ..errors import CorruptJobFile, JobNotFound
from ..interface import check_listing
from ..job import BLOCKED, PENDING, RESOLVED_STATES, RUNNING, STATES, Job
from ..views import Census
from .buckets import History
from .context import StoreContext
from .entries import UnresolvedEntry
from .pending_counts import pending_count
from .unresolved_tasks import FolderTasks, UnresolvedTasks


class Queries:
    def __init__(self, ctx: StoreContext) -> None:
        self.ctx = ctx
        # What was read of each unresolved record (census).
        self.unresolved = UnresolvedTasks(ctx.layout)

    def get(self, job_id: str) -> Job:
        check_id(job_id)
        record, state = self.ctx.read(job_id)
        return self.ctx.job(record, state)

    def record_path(self, job_id: str) -> str:
        check_id(job_id)
        layout = self.ctx.layout
        resolved, pending = layout.resolved_path(job_id), layout.pending_path(job_id)  # (its bucket opened once)
        for path in (resolved, pending, layout.blocked_path(job_id), pending, resolved):
            if fsio.exists(path):
                return str(path)
        raise JobNotFound(job_id)

    def jobs(self, state: str | None = None, *, task: str | None = None, labels: Mapping[str, str] | None = None,
             after: str | None = None, limit: int | None = None, newest_first: bool = False) -> Iterator[Job]:
        check_listing(state, task, after, limit)
        jobs = heapq.merge(self._blocked(state, task, after, newest_first),
                           self._unresolved(state, task, after, newest_first),
                           self._resolved(state, task, after, newest_first),
                           key=lambda job: job.id, reverse=newest_first)
        if labels:
            wanted = dict(labels).items()
            jobs = (job for job in jobs if wanted <= job.labels.items())
        return itertools.islice(jobs, limit)

    def _blocked(self, state: str | None, task: str | None, after: str | None, newest_first: bool) -> Iterator[Job]:
        if state not in (None, BLOCKED):
            return
        layout = self.ctx.layout
        for job_id in _in_order(layout.blocked.names(), RECORD_SUFFIX, after, newest_first):
            job = self._job_at(layout.blocked_path(job_id), job_id, BLOCKED)
            if job is not None and (task is None or job.task == task) and not self._released(job_id):
                yield job

    def _released(self, job_id: str) -> bool:
        """Whether a blocked record's job is pending or resolved too (its settler
        stopped between its steps): the other record is the truth."""
        layout = self.ctx.layout
        return fsio.exists(layout.resolved_path(job_id)) or fsio.exists(layout.pending_path(job_id))

    def _unresolved(self, state: str | None, task: str | None, after: str | None,
                    newest_first: bool) -> Iterator[Job]:
        if state not in (None, PENDING, RUNNING):
            return
        layout = self.ctx.layout
        leased = set(folders.stems(layout.work_leases, ""))
        pending = heapq.merge(*(self._in_buckets(parent, after, newest_first) for parent in layout.pending_parents()),
                              reverse=newest_first)
        for job_id in pending:
            job_state = RUNNING if job_id in leased else PENDING
            if state is not None and job_state != state:
                continue
            job = self._job_at(layout.pending_path(job_id), job_id, job_state)
            if job is not None and (task is None or job.task == task) and not fsio.exists(
                    layout.resolved_path(job_id)):
                yield job

    def _in_buckets(self, parent: Folder, after: str | None, newest_first: bool) -> Iterator[str]:
        """The ids of the pending records in *parent*'s buckets, in order: a bucket is
        listed only when the listing reaches it (buckets sort as their ids do)."""
        layout = self.ctx.layout
        buckets = bucket_names(parent)
        for bucket in reversed(buckets) if newest_first else buckets:
            if not skipped(bucket, after, newest_first):
                folder = Folder(parent.join(bucket), keep_open=False, shared=layout.shared)
                yield from _in_order(folder.names(), RECORD_SUFFIX, after, newest_first)

    def _resolved(self, state: str | None, task: str | None, after: str | None,
                  newest_first: bool) -> Iterator[Job]:
        if state is not None and state not in RESOLVED_STATES:
            return
        history = History(self.ctx)
        buckets = self.ctx.layout.buckets()
        for bucket in reversed(buckets) if newest_first else buckets:
            if after is not None and (bucket > after[:BUCKET_CHARS] if newest_first
                                      else bucket < after[:BUCKET_CHARS]):
                continue  # (ids sort as their buckets do)
            summary = history.summary(bucket)
            if summary is None or not summary.has(state, task):
                continue
            folder = self.ctx.layout.bucket(bucket)
            for job_id in _in_order(history.matching(bucket, summary, state, task), "", after, newest_first):
                job = self._job_at(folder.join(job_id + RECORD_SUFFIX), job_id, None)
                if job is not None and (state is None or job.state == state) and (task is None or job.task == task):
                    yield job

    def _job_at(self, path: str, job_id: str, state: str | None) -> Job | None:
        try:
            record = Record.load(path, job_id)
        except FileNotFoundError:
            return None
        except CorruptJobFile as exc:
            self.ctx.report(exc)
            return None
        return self.ctx.job(record, state)

    def stats(self) -> dict[str, int]:
        layout = self.ctx.layout
        history = History(self.ctx)
        counts = dict.fromkeys(STATES, 0)
        finishing: set[str] = set()
        for _, summary in history.summaries():
            for state, count in summary.counts.items():
                counts[state] += count
            # A job both pending and resolved (its resolution not finished yet) is resolved.
            finishing.update(job_id for job_id in summary.also_pending if fsio.exists(layout.pending_path(job_id)))
        pending = pending_count(layout, history.filesystem_now) - len(finishing)
        # (Few: a lease per job being worked on.)
        running = sum(job_id not in finishing and fsio.exists(layout.pending_path(job_id))
                      for job_id in folders.stems(layout.work_leases, ""))
        counts[PENDING], counts[RUNNING] = pending - running, running
        counts[BLOCKED] = sum(not self._released(job_id) for job_id in folders.stems(layout.blocked, RECORD_SUFFIX))
        counts["due"] = folders.count(layout.due, "")
        return counts

    def stats_by_task(self) -> dict[str, dict[str, int]]:
        return self.census().jobs

    def census(self) -> Census:
        """Jobs per task and state, and their attempts and attempt outcomes per task:
        the history's from its bucket summaries, the unresolved jobs' from what was
        read of their records (unresolved_tasks.py). A job also resolved already
        counts as resolved, as in ``stats``; tasks without jobs are left out."""
        ctx, layout = self.ctx, self.ctx.layout
        history = History(ctx)
        census = Census()
        finishing: list[str] = []
        for _, summary in history.summaries():
            for task, states in summary.tasks.items():
                for state, count in states.items():
                    _count(census.jobs, task, state, count)
            census.failed_attempts.update(summary.attempts)
            for task, outcomes in summary.outcomes.items():
                census.outcomes.update({(task, outcome): count for outcome, count in outcomes.items()})
            finishing.extend(summary.also_pending)
        *pending, blocked = self.unresolved.read([*layout.pending_folders(), layout.blocked],
                                                 history.filesystem_now, ctx.report)
        leased = set(folders.stems(layout.work_leases, ""))
        for tasks in pending:
            _add(census, tasks, PENDING)
            for job_id in finishing:  # (counted resolved: the resolved record is the truth)
                if (entry := tasks.records.get(job_id)) is not None:
                    _take(census, entry, PENDING)
                    leased.discard(job_id)
            for job_id in leased:  # (few: a lease per job being worked on)
                if (entry := tasks.records.get(job_id)) is not None:
                    _count(census.jobs, entry[0], PENDING, -1)
                    _count(census.jobs, entry[0], RUNNING, 1)
        _add(census, blocked, BLOCKED)
        for job_id, entry in blocked.records.items():
            # A blocked record whose job is pending or resolved too (its settler stopped
            # between its steps): the other record is the truth.
            if any(job_id in tasks.records for tasks in pending) or fsio.exists(layout.resolved_path(job_id)):
                _take(census, entry, BLOCKED)
        census.jobs = {task: states for task, states in census.jobs.items() if any(states.values())}
        census.outcomes = Counter({key: count for key, count in census.outcomes.items() if count})
        return census

    def wait(self, job_id: str, timeout: float | None) -> Job:
        check_id(job_id)
        options = self.ctx.options
        deadline = None if timeout is None else time.monotonic() + timeout
        # A resolver removes the pending record once the resolved one is published (in
        # a bucket folder that may not exist yet, so not watched itself).
        pending = self.ctx.layout.pending.path
        signal = watch({pending: VANISHED}, options.watch, recursive=frozenset((pending,)))
        try:
            while True:
                signal.clear()
                job = self.get(job_id)
                if job.resolved:
                    return job
                left = options.poll_interval
                if deadline is not None:
                    left = min(left, deadline - time.monotonic())
                if left <= 0:
                    raise TimeoutError(f"job {job_id!r} is still {job.state} after {timeout} s")
                signal.wait(left)
        finally:
            unwatch(signal)

    def work_signal(self) -> Signal:
        layout = self.ctx.layout
        # Not leases/work: a puller releases leases there itself (a job it passed
        # over), and would wake itself in a loop. A job released without a commit,
        # or made in a queue folder made after this signal, is found at the next poll.
        parents = {folder.path: APPEARED for folder in layout.pending_parents()}
        return watch({**parents, layout.resource_leases.path: VANISHED}, self.ctx.options.watch,
                     recursive=frozenset(parents))

    def notification_signal(self) -> Signal:
        return watch({self.ctx.layout.due.path: APPEARED}, self.ctx.options.watch)


def _count(jobs: dict[str, dict[str, int]], task: str, state: str, count: int) -> None:
    jobs.setdefault(task, dict.fromkeys(STATES, 0))[state] += count


def _add(census: Census, tasks: FolderTasks, state: str) -> None:
    """Count the records of a folder of unresolved jobs as jobs in *state*."""
    for task, count in tasks.jobs.items():
        if count:
            _count(census.jobs, task, state, count)
    census.failed_attempts.update(tasks.attempts)
    census.outcomes.update(tasks.outcomes)


def _take(census: Census, entry: UnresolvedEntry, state: str) -> None:
    """Take out one record counted by ``_add`` (its job is counted elsewhere)."""
    task = entry[0]
    _count(census.jobs, task, state, -1)
    census.failed_attempts[task] -= entry[1]
    for outcome, count in entry[2]:
        census.outcomes[task, outcome] -= count


def _in_order(names: Iterable[str], suffix: str, after: str | None, newest_first: bool) -> Iterator[str]:
    """The ids that *names* (a folder's entries: ids with *suffix*) are, after
    *after* in the listing's order (ids sort by creation time), picked a growing
    batch at a time: a first page of a hundred thousand costs one pass over them,
    not a sort. The names are compared as they are, and only those picked are
    checked and cut to ids: within one folder every id has the same form (and
    ``.`` and ``-`` sort before every other character an id may hold), so names
    sort as their ids do."""
    # (The comparisons written out in each filter, not a function called per name: a
    # call per name of a hundred thousand costs more than the rest of the pass.)
    cut = len(suffix)
    if after is None:
        left = list(names)
    elif newest_first:
        left = [i for i in names if i[:len(i) - cut] < after]
    else:
        left = [i for i in names if i[:len(i) - cut] > after]
    pick = heapq.nlargest if newest_first else heapq.nsmallest
    batch = 64
    while left:
        chosen = pick(batch, left)
        for name in chosen:
            stem = name[:len(name) - cut]
            if name.endswith(suffix) and is_valid_id(stem):
                yield stem
        if len(chosen) < batch:
            return
        last = chosen[-1]
        left = [i for i in left if i < last] if newest_first else [i for i in left if i > last]
        batch *= 4
