"""JobStore: the local implementation of the Store interface, a thin facade over
the three workflows of a job store (creation, fulfilment, notification), its
queries and its maintenance, in ``fsjobstore._store``. The protocol each follows
step by step is in docs/format.md."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from ._arguments import check_count, check_seconds
from ._files.ids import check_id
from ._files.wakeup import unwatch
from ._store import creation, maintenance, migration, purging
from ._store.bulk import BulkCreation
from ._store.checking import check
from ._store.context import Notify, Options, StoreContext
from ._store.fulfilment import Fulfilment
from ._store.handles import NotificationLease, WorkLease
from ._store.holdings import holdings
from ._store.notification import Notification
from ._store.queries import Queries
from ._store.schedules import Schedules
from ._store.transfer import Transfer
from ._store.workers import WorkerRecord, WorkerWatch
from ._store.workspaces import Workspaces
from .interface import Holding, Limit, Pause, Progress, Report, WakeSignal, WorkerInfo
from .job import Job

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
# Resolved jobs are kept a week by default: long enough to look at last week's
# failures, short enough that history does not grow without end.
DEFAULT_RETENTION = 7 * 24 * 3600.0
T = TypeVar("T")


class _Option(Generic[T]):
    """A store setting, read-only (the store object's Options)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, store: JobStore, owner: type | None = None) -> T:
        value: T = getattr(store._ctx.options, self.name)
        return value


class JobStore(BulkCreation):
    """A job store kept in the folder *path*, shared by every process that opens it.

    * ``lease_seconds``: how long a lease survives its holder's silence. A holder
      renews every third of it; a contender takes an expired lease over after it
      has seen the holder's record unchanged for this long by its own clock.
    * ``durable``: fsync every job state change before returning (crash-safe);
      ``False`` skips the fsyncs (safe against process crashes, not power loss).
    * ``notify``: a callable ``(target, job)`` tried at once by ``fulfill``/``fail``
      and by ``queue`` on a resolved job; it raises to say delivery failed. Targets
      it delivered are removed; the rest stay due for ``pull_notification``.
    * ``max_bytes``: the largest request, value, error or target accepted.
    * ``retention``: default seconds a resolved job is kept before ``purge()``
      removes it: a week unless given (None: kept until purged explicitly);
      ``create(expires_in=...)`` overrides it per job.
    * ``watch``: wake waiting loops through inotify (watchdog) on this host;
      ``poll_interval`` bounds how long a change made elsewhere takes to be seen.
    * ``create``: make the store if *path* holds none (else InvalidStore, naming it:
      a typo'd path or an unmounted mount point never becomes a new, empty store).
    * ``group_shared``: for a store shared by several users of one group: every
      file and folder this object makes is read-write for the group whatever the
      umask (files 0660, folders 2770: setgid, so what any member makes belongs
      to the store folder's group). Otherwise files follow the process umask.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        lease_seconds: float = 30.0,
        durable: bool = True,
        notify: Notify | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        retention: float | None = DEFAULT_RETENTION,
        watch: bool = True,
        poll_interval: float = 1.0,
        create: bool = False,
        group_shared: bool = False,
    ) -> None:
        options = Options(
            lease_seconds=check_seconds("lease_seconds", lease_seconds), durable=durable, notify=notify,
            max_bytes=check_count("max_bytes", max_bytes),
            retention=None if retention is None else check_seconds("retention", retention),
            watch=watch, poll_interval=check_seconds("poll_interval", poll_interval), group_shared=group_shared,
        )
        # Resolved once (``/data -> /mnt/nfs/x`` is common); from then on every folder
        # is reached through the descriptor opened there, never through a symlink.
        self.path = os.path.realpath(os.path.abspath(os.fspath(path)))
        self._ctx = ctx = StoreContext(self.path, options, create=create)
        self._queries = Queries(ctx)
        self._notification = Notification(ctx)
        self._fulfilment = Fulfilment(ctx, self._notification.deliver_now)
        self._workers = WorkerWatch(ctx)
        # Periodic jobs, export/import (JSON lines), a folder per job for large data.
        self.schedules = Schedules(ctx)
        self.transfer = Transfer(ctx, self._queries.jobs, self._notification.queue)
        self.workspaces = Workspaces(ctx)
        self.stats_by_task, self.census = self._queries.stats_by_task, self._queries.census  # per task, cheaply

    # -- settings (read-only) -------------------------------------------------------

    @property
    def location(self) -> str:
        return self.path

    lease_seconds: _Option[float] = _Option()
    durable: _Option[bool] = _Option()
    max_bytes: _Option[int] = _Option()
    retention: _Option[float | None] = _Option()
    watch: _Option[bool] = _Option()
    group_shared: _Option[bool] = _Option()
    poll_interval: _Option[float] = _Option()

    @property
    def notify(self) -> Notify | None:
        return self._ctx.options.notify

    @notify.setter
    def notify(self, notify: Notify | None) -> None:
        self._ctx.options = replace(self._ctx.options, notify=notify)

    @property
    def context(self) -> StoreContext:
        """The layers below (folders, leases, indexes), for tests and tools: not a stable API."""
        return self._ctx

    def close(self) -> None:
        """Release every lease this store object holds and stop its renewal thread."""
        self._ctx.close()

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"JobStore({self.path!r})"

    # -- creation -------------------------------------------------------------------

    def create(self, request: Any, *, task: str | None = None, resource: str | None = None,
               not_before: datetime | timedelta | float | None = None, expires_in: float | None = None,
               lease_seconds: float | None = None, key: str | None = None, on_conflict: str = "return",
               labels: Mapping[str, str] | None = None, priority: int = 0,
               deadline: datetime | timedelta | float | None = None, job_id: str | None = None,
               after: Sequence[str] | None = None, on_parent_failure: str = "cancel") -> Job:
        """Add a pending job for *request* (any JSON value) and return it.

        * ``task``: the kind of job (for workers of some kinds); ``resource``: jobs of one never run at once.
        * ``not_before``: a datetime (each worker's wall clock), or a delay (timedelta
          or seconds, that long on every host: the filesystem's clock) before which no worker takes the job.
        * ``expires_in``: seconds the job is kept after it is resolved (purge); ``lease_seconds``: its own.
        * ``key``: at most one job has it until purged (``on_conflict``: "return" it,
          "raise" DuplicateJob, "replace"/"extend" a pending one's request/delay).
        * ``labels`` (strings; ``to`` addresses it, for ``pull_work(to=...)``), ``priority``
          (-100 to 100: higher first), ``deadline`` (as not_before: not started by then: expired).
        * ``after``: ids of jobs it waits for (docs/format.md, "Dependencies"), ``on_parent_failure``.
        * ``job_id``: a ULID the caller picked, for a create it may repeat: a job made
          under it by the same create is returned as it is now; by another, JobStateError.

        TypeError (nothing written) for a request that is not JSON. Once this returns
        the job is visible to every process; with ``durable`` it survives a crash."""
        return creation.create(self._ctx, request, task=task, resource=resource, not_before=not_before,
                               expires_in=expires_in, lease_seconds=lease_seconds, key=key,
                               on_conflict=on_conflict, labels=labels, priority=priority, deadline=deadline,
                               job_id=job_id, after=after, on_parent_failure=on_parent_failure)

    # -- queries --------------------------------------------------------------------

    def get(self, job_id: str) -> Job:
        """The job as it is now. Raises JobNotFound, InvalidJobId or CorruptJobFile."""
        return self._queries.get(job_id)

    def jobs(self, state: str | None = None, *, task: str | None = None, labels: Mapping[str, str] | None = None,
             after: str | None = None, limit: int | None = None, newest_first: bool = False) -> Iterator[Job]:
        """As ``Store.jobs``: history read a bucket at a time; corrupt files logged, skipped."""
        return self._queries.jobs(state, task=task, labels=labels, after=after, limit=limit,
                                  newest_first=newest_first)

    def dependants(self, job_id: str) -> list[str]:
        return self._ctx.dependencies.dependants(check_id(job_id))

    def stats(self) -> dict[str, int]:
        """How many jobs are in each state, and how many are due for notification."""
        return self._queries.stats()

    def record_path(self, job_id: str) -> str:
        """The path of the job's file now (for people: ``cat`` it). JobNotFound if none."""
        return self._queries.record_path(job_id)

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job is resolved and return it; TimeoutError after *timeout* seconds.

        Woken at once by a resolution on this host (inotify), and within
        ``poll_interval`` by one made on another host.
        """
        return self._queries.wait(job_id, timeout)

    # -- fulfilment -----------------------------------------------------------------

    def pull_work(self, on_compromised: Callable[[WorkLease], None] | None = None, *,
                  tasks: Collection[str | None] | None = None, to: str | None = None) -> WorkLease | None:
        """Lease one pending job, or return None at once if none is available.

        Only jobs whose ``task`` is in *tasks* are taken, if it is given (``None``
        in it stands for jobs created without a task); only jobs addressed *to*
        this address (their label ``to``), if given, else only jobs addressed to
        nobody. The highest priority first, the oldest first within one. Jobs whose
        ``not_before`` is still ahead, whose ``resource`` is busy or that a pause
        stops are passed over.
        ``on_compromised(lease)`` is called once (from the renewal thread or the
        committing thread) if the lease is lost while held.
        """
        return self._fulfilment.pull_work(on_compromised, tasks, to)

    def fulfill(self, job_id: str, value: Any, *, lease: WorkLease | None = None) -> Job:
        """Resolve the job with *value* (bytes, str, or any JSON value kept as JSON), at most
        once (JobAlreadyResolved, nothing changed); through a *lease*, LeaseLost if it is lost."""
        return self._fulfilment.fulfill(job_id, value, lease=lease)

    def fail(self, job_id: str, error: str | BaseException, *, lease: WorkLease | None = None, retry: bool = False,
             delay: float | None = None) -> Job:
        """Record a failed attempt. ``retry=True`` returns the job to pending (counting
        the attempt), not to be taken again for *delay* seconds; otherwise the job
        is resolved as failed, at most once. Without a *lease*, a retry takes the
        job's lease for the change (JobBusy if a worker holds it)."""
        return self._fulfilment.fail(job_id, error, lease=lease, retry=retry, delay=delay)

    def cancel(self, job_id: str) -> Job:
        """Resolve a pending or running job as ``cancelled`` (at most once, like
        fulfill). A worker holding its lease is told at its next renewal, and its
        commit raises JobAlreadyResolved."""
        return self._fulfilment.cancel(job_id)

    def retry(self, job_id: str) -> Job:
        """Return a failed, cancelled, expired or discarded job to pending, attempts from zero,
        no deadline (JobStateError for another state; JobBusy if a crashed resolver's lease is held)."""
        return self._fulfilment.retry(job_id)

    def work_signal(self) -> WakeSignal:
        """A signal set when work may have become available on this host (for loops)."""
        return self._queries.work_signal()

    def next_work_due(self) -> float | None:
        """Seconds until a job this store object passed over (a retry's delay) may be
        taken again (None: it passed none over)."""
        return self._ctx.next_due()

    # -- notification ---------------------------------------------------------------

    def queue(self, job_id: str, target: Any) -> None:
        """Add *target* (any JSON value) to the job's waiting targets; a target
        already waiting is not added twice. On a resolved job it is due at once."""
        self._notification.queue(job_id, target)

    def unqueue(self, job_id: str, target: Any) -> None:
        """Remove *target* from the job's waiting targets (no error if it is not there)."""
        self._notification.unqueue_all(job_id, [target])

    def unqueue_all(self, job_id: str, targets: Any) -> None:
        """Remove each of *targets* from the job's waiting targets."""
        self._notification.unqueue_all(job_id, targets)

    def pull_notification(
        self, on_compromised: Callable[[NotificationLease], None] | None = None
    ) -> NotificationLease | None:
        """Lease one resolved job with waiting targets, or return None at once."""
        return self._notification.pull_notification(on_compromised)

    def notification_signal(self) -> WakeSignal:
        """A signal set when a notification may have become due on this host (for loops)."""
        return self._queries.notification_signal()

    def next_notification_due(self) -> float | None:
        """Seconds until a notification passed over (``done(retry_in=...)``) is due again."""
        return self._ctx.due.next_due()

    def stop_signal(self, signal: WakeSignal) -> None:
        """Stop setting *signal* (its loop is done with it)."""
        unwatch(signal)

    # -- operators ------------------------------------------------------------------

    def register_worker(self, kind: str, tasks: Collection[str | None] | None, concurrency: int, *,
                        host: str | None = None, pid: int | None = None) -> WorkerRecord:
        """A heartbeat record (``workers/<id>.json``) for a loop of *kind* starting now,
        beaten every ``beat_seconds``; *host*/*pid*: a loop elsewhere (an HTTP client)."""
        return WorkerRecord(self._ctx, kind, tasks, concurrency, host=host, pid=pid)

    def workers(self, *, watch: float = 0.0) -> list[WorkerInfo]:
        """Every loop with a record, and whether it is alive (judged without comparing
        clocks: see WorkerInfo). With *watch* seconds, wait that long at most to see
        whether records of other hosts change."""
        return self._workers.workers(check_seconds("watch", watch, zero=True))

    # -- pauses ---------------------------------------------------------------------

    def pause(self, task: str | None = None, *, reason: str | None = None) -> Pause:
        """Stop pullers on every host taking jobs of *task* (None: any) until ``resume``."""
        return self._ctx.pauses.pause(task, reason)

    def resume(self, task: str | None = None) -> bool:
        """End the pause of *task* (None: the whole store's); False if there was none."""
        return self._ctx.pauses.resume(task)

    def pauses(self) -> list[Pause]:
        return list(self._ctx.pauses.current())

    def holdings(self) -> list[Holding]:
        return holdings(self._ctx)

    def set_limit(self, limit: int | None, *, resource: str | None = None, task: str | None = None) -> None:
        """At most *limit* jobs of *resource* (or *task*) run at once on all hosts (None: default)."""
        self._ctx.limits.set(limit, resource, task)

    def limits(self) -> list[Limit]:
        return list(self._ctx.limits.current())

    # -- maintenance ----------------------------------------------------------------

    def purge(self, older_than: float | None = None, *, progress: Progress | None = None) -> int:
        """Remove resolved jobs whose time is up (*older_than* seconds since resolved,
        else their ``expires_in``, else the store's ``retention``; None: kept) and
        with no target waiting, with their workspaces; return how many. Also removes
        crashed writers' leftovers older than an hour (docs/format.md, "purge").
        ``progress(done, total)`` is called as resolved jobs are examined."""
        removed = purging.purge(self._ctx, older_than, progress)
        self.workspaces.remove_orphans()
        return removed

    def delete(self, job_id: str) -> Job:
        """Remove a resolved job now, with its waiting targets (never told); return it as
        it was. JobStateError for a pending or running job (cancel it first)."""
        return maintenance.delete(self._ctx, job_id)

    def check(self, *, repair: bool = False, progress: Progress | None = None) -> Report:
        """Verify every invariant of docs/format.md; with *repair*, fix what is safe
        to fix (a job file is never deleted). Returns a Report."""
        return check(self._ctx, repair=repair, progress=progress)


def migrate_store(path: str | os.PathLike[str], *, progress: Progress | None = None) -> int:
    """Upgrade the store at *path* to this code's format in place (format 1 to 2:
    resolved records into their buckets); return how many records moved. Stop
    every process using the store first. Crash-safe: an interrupted migration is
    finished by running it again (the store refuses to open meanwhile)."""
    return migration.migrate(os.path.realpath(os.fspath(path)), progress)
