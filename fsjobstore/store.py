"""JobStore: the public operations, composed step by step as docs/format.md states them."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

from filelock import FileLock, Timeout

from . import fsio
from .candidates import Candidates
from .errors import (
    CorruptJobFile,
    InvalidStore,
    JobAlreadyResolved,
    JobBusy,
    JobNotFound,
    JobStateError,
    JobStoreError,
    JobTooLarge,
    LeaseLost,
)
from .handles import NotificationLease, WorkLease
from .ids import check_id, new_id
from .job import (
    CANCELLED,
    FAILED,
    FORMAT_VERSION,
    FULFILLED,
    PENDING,
    RESOLVED_STATES,
    RUNNING,
    STATES,
    Job,
    Record,
    canonical_json,
    encode_json,
    now_text,
    parse_time,
    time_text,
    to_bytes,
)
from .layout import RECORD_SUFFIX, STORE_MARKER, Layout, NotAFolder
from .lease import Held, Holders, LeaseFolder, Renewer
from .wakeup import APPEARED, VANISHED, Signal, unwatch, watch

log = logging.getLogger("fsjobstore")

Notify = Callable[[Any, Job], object]
_Handle = TypeVar("_Handle", WorkLease, NotificationLease)

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
# Leftovers of crashed writers (temp files, half-done lease take-overs) older than this
# are removed by purge(). Judged by file mtime against this host's clock, so it is
# generous: hosts' clocks may disagree by minutes, never by an hour.
LEFTOVER_SECONDS = 3600.0


class JobStore:
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
      removes it (None: kept until purged explicitly); ``create(expires_in=...)``
      overrides it per job.
    * ``watch``: wake waiting loops through inotify (watchdog) on this host;
      ``poll_interval`` bounds how long a change made elsewhere takes to be seen.
    * ``create``: make the store folder if it does not exist (else InvalidStore).
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
        retention: float | None = None,
        watch: bool = True,
        poll_interval: float = 1.0,
        create: bool = True,
        group_shared: bool = False,
    ) -> None:
        _check_seconds("lease_seconds", lease_seconds)
        _check_seconds("poll_interval", poll_interval)
        if retention is not None:
            _check_seconds("retention", retention)
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
            raise ValueError(f"max_bytes must be a positive integer, not {max_bytes!r}")
        self.path = os.path.abspath(os.fspath(path))
        self.lease_seconds = float(lease_seconds)
        self.durable = durable
        self.notify = notify
        self.max_bytes = max_bytes
        self.retention = retention
        self.watch = watch
        self.poll_interval = float(poll_interval)
        self.group_shared = group_shared
        self._layout = Layout(self.path, shared=group_shared)
        self._open_folder(create)
        self._renewer = Renewer()
        self._holders = Holders(self._layout.holders)
        self._work, self._notes, self._resources = (
            LeaseFolder(folder, self.lease_seconds, self._renewer, holders=self._holders)
            for folder in (self._layout.work_leases, self._layout.notify_leases, self._layout.resource_leases)
        )
        self._pending = Candidates(self._layout.pending, RECORD_SUFFIX)
        self._due = Candidates(self._layout.due, "")
        self._pull_lock = threading.Lock()
        self._reported: set[str] = set()

    # -- opening ----------------------------------------------------------------

    def _open_folder(self, create: bool) -> None:
        try:
            self._open_layout(create)
        except BaseException:
            self._layout.close()  # (the folders anchored before the failure)
            raise

    def _open_layout(self, create: bool) -> None:
        layout = self._layout
        if os.path.lexists(self.path) and not os.path.isdir(self.path):
            raise InvalidStore(f"store path {self.path} exists and is not a folder")
        if not create and not os.path.exists(layout.marker):
            raise InvalidStore(f"no fsjobstore store at {self.path}")
        try:
            try:
                fsio.make_folder(self.path, shared=self.group_shared)
            except FileNotFoundError:
                os.makedirs(os.path.dirname(self.path), exist_ok=True)
                fsio.make_folder(self.path, shared=self.group_shared)
            layout.anchor(make=True)
            marker = json.dumps({"format": FORMAT_VERSION, "created_at": now_text()}) + "\n"
            try:
                fsio.publish(layout.tmp, layout.top, STORE_MARKER, marker.encode(), durable=self.durable,
                             replace=False)
            except FileExistsError:
                pass
            meta = json.loads(fsio.read(layout.top.join(STORE_MARKER)))
        except NotAFolder as exc:
            raise InvalidStore(f"{exc} should be a folder of the store, and is not") from None
        except PermissionError as exc:
            raise InvalidStore(f"store folder {self.path} is not writable: {exc.strerror}") from None
        except (ValueError, OSError, CorruptJobFile) as exc:
            raise InvalidStore(f"cannot open store {self.path}: {exc}") from None
        version = meta.get("format") if isinstance(meta, dict) else None
        if version != FORMAT_VERSION:
            raise InvalidStore(
                f"store {self.path} has format version {version!r}; this fsjobstore reads {FORMAT_VERSION}"
            )

    def close(self) -> None:
        """Release every lease this store object holds and stop its renewal thread."""
        self._renewer.release_all()
        self._renewer.stop()
        self._holders.close()
        self._pending.close()
        self._due.close()
        self._layout.close()

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"JobStore({self.path!r})"

    # -- creating and reading ---------------------------------------------------

    def create(
        self,
        request: Any,
        *,
        task: str | None = None,
        resource: str | None = None,
        not_before: datetime | timedelta | float | None = None,
        expires_in: float | None = None,
        lease_seconds: float | None = None,
    ) -> Job:
        """Add a pending job for *request* (any JSON value) and return it.

        * ``task``: the kind of job, for workers that handle several kinds.
        * ``resource``: jobs with the same resource never run at the same time.
        * ``not_before``: a datetime, or a delay (timedelta or seconds), before
          which no worker takes the job (judged by the worker's wall clock).
        * ``expires_in``: seconds the job is kept after it is resolved (purge).
        * ``lease_seconds``: this job's lease length, instead of the store's.

        Raises TypeError (writing nothing) if the request is not JSON-serialisable.
        Once this returns the job is visible to every process; with ``durable``
        it also survives a crash.
        """
        request_json = encode_json(request, "request", self.max_bytes)
        for name, text in (("task", task), ("resource", resource)):
            if text is not None and (not isinstance(text, str) or not text):
                raise TypeError(f"{name} must be a non-empty string, not {text!r}")
        if expires_in is not None:
            _check_seconds("expires_in", expires_in)
        if lease_seconds is not None:
            _check_seconds("lease_seconds", lease_seconds)
        start = _timestamp(not_before)
        record = Record.new(
            new_id(), request, request_json, task=task, resource=resource,
            not_before=None if start is None else time_text(start),
            expires_in=expires_in, lease_seconds=lease_seconds,
        )
        self._write_pending(record)
        return record.job()

    def get(self, job_id: str) -> Job:
        """The job as it is now. Raises JobNotFound, InvalidJobId or CorruptJobFile."""
        check_id(job_id)
        record, state = self._read(job_id)
        return record.job(state=state, waiting=self._waiting_targets(job_id))

    def _read(self, job_id: str) -> tuple[Record, str]:
        # The resolved record is the truth: it is published (create-if-absent)
        # before the pending one is removed, so read it first, then pending, then
        # it again for a job resolved between the two reads.
        layout = self._layout
        for path in (layout.resolved_path(job_id), layout.pending_path(job_id), layout.resolved_path(job_id)):
            try:
                data = fsio.read(path)
            except FileNotFoundError:
                continue
            record = Record.parse(data, path, job_id)
            state = record.state
            if state == PENDING and self._work.is_held(job_id):
                state = RUNNING
            return record, state
        raise JobNotFound(job_id)

    def _read_resolved(self, job_id: str) -> Record | None:
        path = self._layout.resolved_path(job_id)
        try:
            return Record.parse(fsio.read(path), path, job_id)
        except FileNotFoundError:
            return None

    def jobs(self, state: str | None = None) -> Iterator[Job]:
        """Every job (in creation order within pending, then resolved), or those in *state*.

        A job that changes state while the iteration runs is yielded at most once,
        in one of its states. Corrupt files are logged and skipped.
        """
        if state is not None and state not in STATES:
            raise ValueError(f"unknown state {state!r}; the states are {', '.join(STATES)}")
        layout = self._layout
        seen: set[str] = set()
        if state in (None, PENDING, RUNNING):
            leased = set(fsio.scan(layout.work_leases, ""))
            for job_id in sorted(fsio.scan(layout.pending, RECORD_SUFFIX)):
                job_state = RUNNING if job_id in leased else PENDING
                if state is not None and job_state != state:
                    continue
                job = self._job_at(layout.pending_path(job_id), job_id, job_state)
                if job is not None and not fsio.exists(layout.resolved_path(job_id)):
                    seen.add(job_id)
                    yield job
        if state is None or state in RESOLVED_STATES:
            for job_id in sorted(fsio.scan(layout.resolved, RECORD_SUFFIX)):
                if job_id in seen:
                    continue
                job = self._job_at(layout.resolved_path(job_id), job_id, None)
                if job is not None and (state is None or job.state == state):
                    yield job

    def _job_at(self, path: str, job_id: str, state: str | None) -> Job | None:
        try:
            record = Record.parse(fsio.read(path), path, job_id)
        except FileNotFoundError:
            return None
        except CorruptJobFile as exc:
            self._report(exc)
            return None
        return record.job(state=state, waiting=self._waiting_targets(job_id))

    def _report(self, exc: CorruptJobFile) -> None:
        # Once per file per store object, so a loop passing it again does not flood the log.
        if exc.path not in self._reported:
            self._reported.add(exc.path)
            log.error("skipping %s", exc)

    def stats(self) -> dict[str, int]:
        """How many jobs are in each state, and how many are due for notification."""
        layout = self._layout
        pending = set(fsio.scan(layout.pending, RECORD_SUFFIX)) - set(fsio.scan(layout.resolved, RECORD_SUFFIX))
        running = len(pending & set(fsio.scan(layout.work_leases, "")))
        counts = {PENDING: len(pending) - running, RUNNING: running, FULFILLED: 0, FAILED: 0, CANCELLED: 0}
        for job_id in fsio.scan(layout.resolved, RECORD_SUFFIX):
            try:
                record = self._read_resolved(job_id)
            except CorruptJobFile as exc:
                self._report(exc)
                continue
            if record is not None:
                counts[record.state] += 1
        counts["due"] = sum(1 for _ in fsio.scan(layout.due, ""))
        return counts

    # -- work -------------------------------------------------------------------

    def pull_work(
        self,
        on_compromised: Callable[[WorkLease], None] | None = None,
        *,
        tasks: Collection[str | None] | None = None,
    ) -> WorkLease | None:
        """Lease one pending job, or return None at once if none is available.

        Only jobs whose ``task`` is in *tasks* are taken, if it is given (``None``
        in it stands for jobs created without a task). Jobs whose ``not_before``
        is still ahead, or whose ``resource`` is busy, are passed over.
        ``on_compromised(lease)`` is called once (from the renewal thread or the
        committing thread) if the lease is lost while held.
        """
        wanted = None if tasks is None else frozenset(tasks)
        busy: set[str] = set()

        def claim(held: Held, taken_over: bool) -> WorkLease | None:
            return self._claim_work(held, taken_over, wanted, busy)

        with self._pull_lock:
            lease = self._pull(self._work, self._pending, claim, wanted, busy)
        if lease is not None:
            lease._watch(on_compromised)
        return lease

    def _pull(
        self,
        leases: LeaseFolder,
        index: Candidates,
        claim: Callable[[Held, bool], _Handle | None],
        wanted: frozenset[str | None] | None = None,
        busy: set[str] | None = None,
    ) -> _Handle | None:
        if leases.sweep_due():
            for name in leases.sweep():
                held = leases.take_over(name)
                if held is not None and (handle := _claimed(claim, held, True)) is not None:
                    return handle
        for name in index.names():
            known = index.noted(name)
            if known is not None:
                task, resource = known
                # Skip without I/O what this puller already knows it cannot take.
                if (wanted is not None and task not in wanted) or (busy and resource in busy):
                    continue
            if not index.present(name):
                continue  # resolved since it was listed: not worth a lease
            held = leases.acquire(name)
            if held is not None and (handle := _claimed(claim, held, False)) is not None:
                return handle
        return None

    def _claim_work(
        self,
        held: Held,
        taken_over: bool,
        wanted: frozenset[str | None] | None,
        busy: set[str],
        *,
        gate: bool = True,
    ) -> WorkLease | None:
        """Turn a held lease into a WorkLease, or release it and return None if the
        job is gone, resolved or corrupt, or (with *gate*) not for this puller now."""
        job_id = held.name
        layout = self._layout
        path = layout.pending_path(job_id)
        try:
            record = Record.parse(fsio.read(path), path, job_id)
        except FileNotFoundError:
            held.release()  # resolved and removed since we listed it
            return None
        except CorruptJobFile as exc:
            self._report(exc)
            held.release()
            return None
        except OSError:
            held.release()  # EIO, ESTALE after retries: the job stays pullable
            raise
        if fsio.exists(layout.resolved_path(job_id)):
            # A resolver crashed after publishing the result: finish its work.
            self._finish_resolution(job_id)
            held.release()
            return None
        task, resource = record.get("task"), record.get("resource")
        if not gate:
            return WorkLease(self, held, record)
        if wanted is not None and task not in wanted:
            self._pending.note(job_id, (task, resource))
            held.release()
            return None
        start = record.not_before()
        if start is not None and (wait := start - time.time()) > 0:
            self._pending.defer(job_id, wait, _inode(path))
            held.release()
            return None
        resource_held = None
        if resource is not None:
            resource_held = self._take_resource(resource)
            if resource_held is None:
                self._pending.note(job_id, (task, resource))
                busy.add(resource)
                held.release()
                return None
        lease = WorkLease(self, held, record, resource_held)  # its release gives both leases back
        try:
            if record.get("lease_seconds"):
                held.set_seconds(float(record.get("lease_seconds")))
            if held.compromised:  # taken over while this puller was paused (see set_seconds)
                lease.release()
                return None
            if taken_over:
                # Its last holder stopped renewing (it died or hung): that was an attempt.
                lease._record = record.changed(attempts=record.attempts + 1,
                                               error="lease expired: its holder stopped renewing it")
                self._write_pending(lease._record)
        except BaseException:
            lease.release()
            raise
        resolved_path = layout.resolved_path(job_id)
        held.probe = lambda: "the job was cancelled or resolved elsewhere" if fsio.exists(resolved_path) else None
        return lease

    def _take_resource(self, resource: str) -> Held | None:
        key = _key(resource)
        held = self._resources.acquire(key)
        if held is None and self._resources.sweep_due() and key in self._resources.sweep():
            held = self._resources.take_over(key)
        return held

    def _write_pending(self, record: Record) -> None:
        layout = self._layout
        fsio.publish(layout.tmp, layout.pending, record.fields["id"] + RECORD_SUFFIX, record.render(),
                     durable=self.durable, replace=True)

    def fulfill(self, job_id: str, value: bytes | str, *, lease: WorkLease | None = None) -> Job:
        """Resolve the job with *value* (bytes, or str stored as UTF-8); return it.

        At most once: a job already fulfilled or failed raises JobAlreadyResolved
        and nothing changes. Through a *lease* (or ``lease.fulfill``) the commit is
        refused with LeaseLost if the lease is no longer held on disk.
        """
        data = to_bytes(value)
        if len(data) > self.max_bytes:
            raise _too_large("value", len(data), self.max_bytes)
        return self._resolve(job_id, FULFILLED, data, None, lease)

    def fail(
        self,
        job_id: str,
        error: str | BaseException,
        *,
        lease: WorkLease | None = None,
        retry: bool = False,
        delay: float | None = None,
    ) -> Job:
        """Record a failed attempt. ``retry=True`` returns the job to pending (counting
        the attempt), not to be taken again for *delay* seconds; otherwise the job
        is resolved as failed, at most once. Without a *lease*, a retry takes the
        job's lease for the change (JobBusy if a worker holds it)."""
        message = _error_text(error)
        if delay is not None:
            _check_seconds("delay", delay, zero=True)
        if len(message.encode("utf-8")) > self.max_bytes:
            raise _too_large("error", len(message.encode("utf-8")), self.max_bytes)
        if not retry:
            return self._resolve(job_id, FAILED, None, message, lease)
        check_id(job_id)
        own = lease is None
        if lease is None:
            lease = self._lease_for(job_id)
        elif lease.id != job_id:
            raise ValueError(f"lease is on job {lease.id!r}, not {job_id!r}")
        try:
            lease._held.check(final=True)
            if (resolved := self._read_resolved(job_id)) is not None:
                raise JobAlreadyResolved(job_id, resolved.state)
            start = None if delay is None else time_text(time.time() + delay)
            record = lease._record.changed(attempts=lease._record.attempts + 1, error=message, not_before=start)
            self._write_pending(record)
        except BaseException:
            if own:
                lease.release()
            raise
        lease.release()
        return record.job()

    def _lease_for(self, job_id: str) -> WorkLease:
        """Take the work lease on a job that nobody holds, for a commit made without one."""
        held = self._work.acquire(job_id)
        if held is None:
            _, state = self._read(job_id)  # JobNotFound and JobAlreadyResolved beat JobBusy
            if state in RESOLVED_STATES:
                raise JobAlreadyResolved(job_id, state)
            raise JobBusy(job_id)
        lease = self._claim_work(held, False, None, set(), gate=False)
        if lease is None:
            _, state = self._read(job_id)
            raise JobAlreadyResolved(job_id, state)
        return lease

    def _resolve(self, job_id: str, state: str, value: bytes | None, error: str | None, lease: WorkLease | None) -> Job:
        check_id(job_id)
        layout = self._layout
        if lease is not None:
            if lease.id != job_id:
                raise ValueError(f"lease is on job {lease.id!r}, not {job_id!r}")
            lease._held.check(final=True)
            record = lease._record
        else:
            record, current = self._read(job_id)
            if current in RESOLVED_STATES:
                raise JobAlreadyResolved(job_id, current)
        attempts = record.attempts + (1 if state == FAILED else 0)
        resolved = record.resolved(state, value, error, attempts)
        try:
            fsio.publish(layout.tmp, layout.resolved, job_id + RECORD_SUFFIX, resolved.render(),
                         durable=self.durable, replace=False)
        except FileExistsError:
            winner = self._read_resolved(job_id)
            raise JobAlreadyResolved(job_id, winner.state if winner else "resolved") from None
        due = self._finish_resolution(job_id)
        if lease is not None:
            lease.release()
        if due and self.notify is not None:
            self._push(job_id)
        return resolved.job(waiting=self._waiting_targets(job_id) if due else ())

    def cancel(self, job_id: str) -> Job:
        """Resolve a pending or running job as ``cancelled`` (at most once, like
        fulfill). A worker holding its lease is told at its next renewal, and its
        commit raises JobAlreadyResolved."""
        return self._resolve(job_id, CANCELLED, None, "cancelled", None)

    def retry(self, job_id: str) -> Job:
        """Return a failed or cancelled job to pending, its attempts counted from zero.

        Raises JobStateError for a job that is not failed or cancelled, and
        JobBusy if a worker holds its lease (a crashed resolver's leftovers).
        """
        check_id(job_id)
        held = self._work.acquire(job_id)
        if held is None:
            raise JobBusy(job_id)
        # Holding the work lease keeps pullers (who would tidy a job found both
        # pending and resolved) away while both records exist.
        try:
            record, _ = self._read(job_id)  # (it reads "running": the lease is ours)
            if record.state not in (FAILED, CANCELLED):
                raise JobStateError(
                    f"job {job_id!r} is {record.state}; only failed or cancelled jobs can be retried"
                )
            self._write_pending(
                record.changed(state=PENDING, value=None, value_encoding=None, attempts=0, not_before=None)
            )
            fsio.remove(self._layout.resolved_path(job_id))
            fsio.remove(self._layout.due.join(job_id))
            if self.durable:
                self._layout.resolved.sync()
        finally:
            held.release()
        return self.get(job_id)

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job is resolved and return it; TimeoutError after *timeout* seconds.

        Woken at once by a resolution on this host (inotify), and within
        ``poll_interval`` by one made on another host.
        """
        check_id(job_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        signal = watch({self._layout.resolved.path: APPEARED}, self.watch)
        try:
            while True:
                signal.clear()
                job = self.get(job_id)
                if job.resolved:
                    return job
                left = self.poll_interval if deadline is None else min(self.poll_interval, deadline - time.monotonic())
                if left <= 0:
                    raise TimeoutError(f"job {job_id!r} is still {job.state} after {timeout} s")
                signal.wait(left)
        finally:
            unwatch(signal)

    def work_signal(self) -> Signal:
        """A signal set when work may have become available on this host (for loops)."""
        layout = self._layout
        return watch(
            # Not leases/work: a puller releases leases there itself (a job it
            # passed over), and would wake itself in a loop. A job released
            # without a commit is found at the next poll.
            {layout.pending.path: APPEARED, layout.resource_leases.path: VANISHED},
            self.watch,
        )

    def notification_signal(self) -> Signal:
        """A signal set when a notification may have become due on this host (for loops)."""
        layout = self._layout
        return watch({layout.due.path: APPEARED}, self.watch)

    # -- retention --------------------------------------------------------------

    def purge(
        self, older_than: float | None = None, *, progress: Callable[[int, int], None] | None = None
    ) -> int:
        """Remove resolved jobs whose time is up; return how many were removed.

        A job's time is *older_than* seconds since it was resolved if given, else
        its own ``expires_in``, else the store's ``retention`` (None: kept). Jobs
        with targets still waiting are kept. Also removes leftovers of crashed
        writers older than an hour: temp files, half-done lease take-overs, and lease
        files on jobs that no longer exist. ``progress(done, total)`` is called
        as resolved jobs are examined.
        """
        if older_than is not None:
            _check_seconds("older_than", older_than, zero=True)
        with self._maintenance():
            return self._purge(older_than, progress)

    @contextmanager
    def _maintenance(self) -> Iterator[None]:
        """One purge or repair at a time on this host (flock; other hosts may
        run theirs concurrently: every step is safe to race, this only saves work)."""
        lock = FileLock(self._layout.maintenance_lock, blocking=False,
                        mode=fsio.SHARED_FILE_MODE if self.group_shared else -1)
        try:
            with lock:
                yield
        except Timeout:
            raise JobStoreError(f"another purge or repair is running on {self.path} on this host") from None

    def _purge(self, older_than: float | None, progress: Callable[[int, int], None] | None) -> int:
        layout = self._layout
        now = time.time()
        names = list(fsio.scan(layout.resolved, RECORD_SUFFIX))
        removed = 0
        for done, job_id in enumerate(names, 1):
            if progress is not None and (done % 1000 == 0 or done == len(names)):
                progress(done, len(names))
            try:
                record = self._read_resolved(job_id)
            except CorruptJobFile as exc:
                self._report(exc)
                continue
            if record is None:
                continue
            keep_for = older_than if older_than is not None else record.get("expires_in") or self.retention
            if keep_for is None or now - parse_time(record.fields["updated_at"]).timestamp() < keep_for:
                continue
            folder = layout.waiting_folder(job_id)
            if folder.names():
                continue
            fsio.remove_folder_if_empty(folder.path)
            fsio.remove(layout.due.join(job_id))
            fsio.remove(layout.pending_path(job_id))
            if fsio.remove(layout.resolved_path(job_id)):
                removed += 1
        self._purge_leftovers(now)
        return removed

    def _purge_leftovers(self, now: float) -> None:
        layout = self._layout
        for folder in (layout.tmp, layout.work_leases, layout.notify_leases, layout.resource_leases, layout.holders):
            for name in folder.names():
                path = folder.join(name)
                try:
                    info = fsio.lstat(path)
                except FileNotFoundError:
                    continue
                if now - info.st_mtime < LEFTOVER_SECONDS:
                    continue
                orphan = folder is layout.tmp or "." in name or (
                    folder is layout.work_leases and not fsio.exists(layout.pending_path(name))
                ) or (folder is layout.notify_leases and not fsio.exists(layout.due.join(name))) or (
                    # a holder with no lease linked to it: dead, or idle for an hour
                    # (a live one makes a new record when it next leases)
                    folder is layout.holders and info.st_nlink == 1
                )
                if orphan:
                    log.info("purging leftover %s", path)
                    fsio.remove(path)

    def _finish_resolution(self, job_id: str) -> bool:
        """After the resolved record is published: make its targets due, drop the
        pending record. Idempotent, so a puller can finish a crashed resolver's work.
        Returns whether targets are waiting."""
        layout = self._layout
        due = fsio.has_entries(layout.waiting.join(job_id))  # (a planted symlink: no)
        if due:
            fsio.create_empty(layout.due, job_id, durable=self.durable)
        # Not fsynced: if a crash undoes the unlink, the next puller finishes it.
        fsio.remove(layout.pending_path(job_id))
        return due

    # -- waiting targets and notifications ---------------------------------------

    def queue(self, job_id: str, target: Any) -> None:
        """Add *target* (any JSON value) to the job's waiting targets; a target
        already waiting is not added twice. On a resolved job it is due at once."""
        check_id(job_id)
        target_json = encode_json(target, "target", self.max_bytes)
        self._read(job_id)
        layout = self._layout
        folder = layout.waiting_folder(job_id)
        content = f'{{"target": {target_json}, "queued_at": "{now_text()}"}}\n'.encode()
        for _ in range(10):
            # (a symlink planted as the folder: publish raises CorruptJobFile, never follows it)
            if fsio.make_folder(folder.path, shared=self.group_shared) and self.durable:
                layout.waiting.sync()
            try:
                fsio.publish(layout.tmp, folder, _key(target) + RECORD_SUFFIX, content,
                             durable=self.durable, replace=False)
            except FileExistsError:
                break  # already waiting
            except FileNotFoundError:
                folder.close()  # its folder was removed as empty meanwhile: make it again
                continue
            break
        # Checked after the target is written; a resolver checks for targets after
        # publishing its result: so at least one of the two makes the job due.
        if fsio.exists(layout.resolved_path(job_id)):
            fsio.create_empty(layout.due, job_id, durable=self.durable)
            if self.notify is not None:
                self._push(job_id)

    def unqueue(self, job_id: str, target: Any) -> None:
        """Remove *target* from the job's waiting targets (no error if it is not there)."""
        self.unqueue_all(job_id, [target])

    def unqueue_all(self, job_id: str, targets: Any) -> None:
        """Remove each of *targets* from the job's waiting targets."""
        check_id(job_id)
        keys = [_key(target) for target in targets]
        self._read(job_id)
        folder = self._layout.waiting_folder(job_id)
        for key in keys:
            fsio.remove(folder.join(key + RECORD_SUFFIX))
        if not folder.names():
            self._undue(job_id)

    def _waiting_entries(self, job_id: str) -> list[tuple[str, Any]]:
        """(key, target) of each waiting target, oldest first."""
        folder = self._layout.waiting_folder(job_id)
        try:
            keys = list(fsio.scan(folder, RECORD_SUFFIX))
        except CorruptJobFile as exc:  # a symlink or a file planted there: never followed
            self._report(exc)
            return []
        entries = []
        for key in keys:
            path = folder.join(key + RECORD_SUFFIX)  # (the folder is anchored by the scan above)
            try:
                entry = json.loads(fsio.read(path))
                entries.append((entry["queued_at"], key, entry["target"]))
            except FileNotFoundError:
                continue
            except CorruptJobFile as exc:
                self._report(exc)
            except (ValueError, KeyError, TypeError) as exc:
                self._report(CorruptJobFile(path, f"not a waiting target ({exc})"))
        entries.sort(key=lambda e: (e[0], e[1]))
        return [(key, target) for _, key, target in entries]

    def _waiting_targets(self, job_id: str) -> tuple[Any, ...]:
        return tuple(target for _, target in self._waiting_entries(job_id))

    def pull_notification(
        self, on_compromised: Callable[[NotificationLease], None] | None = None
    ) -> NotificationLease | None:
        """Lease one resolved job with waiting targets, or return None at once."""
        with self._pull_lock:
            note = self._pull(self._notes, self._due, self._claim_note)
        if note is not None:
            note._watch(on_compromised)
        return note

    def _claim_note(self, held: Held, taken_over: bool = False) -> NotificationLease | None:
        job_id = held.name
        layout = self._layout
        try:
            record = self._read_resolved(job_id)
        except CorruptJobFile as exc:
            self._report(exc)
            held.release()
            return None
        if record is None:
            fsio.remove(layout.due.join(job_id))  # a marker left over (e.g. by a purge)
            held.release()
            return None
        waiting = self._waiting_entries(job_id)
        if not waiting:
            waiting = self._undue(job_id)
        if not waiting:
            held.release()
            return None
        return NotificationLease(self, held, record, waiting)

    def _undue(self, job_id: str) -> list[tuple[str, Any]]:
        """Remove the due marker of a job with no targets left; return any target
        queued meanwhile (then the job is due again)."""
        layout = self._layout
        fsio.remove(layout.due.join(job_id))
        # queue() writes its target before it makes the job due: look again after
        # removing the marker, so a target queued meanwhile is never stranded.
        waiting = self._waiting_entries(job_id)
        if waiting:
            fsio.create_empty(layout.due, job_id, durable=self.durable)
        else:
            fsio.remove_folder_if_empty(layout.waiting.join(job_id))
        return waiting

    def _notified(self, note: NotificationLease, delivered: list[Any], retry_in: float | None = None) -> None:
        note._held.check()
        if retry_in is not None:
            self._due.defer(note.id, retry_in)
        folder = self._layout.waiting_folder(note.id)
        for key in {_key(target) for target in delivered}:
            fsio.remove(folder.join(key + RECORD_SUFFIX))
        if not self._waiting_entries(note.id):
            self._undue(note.id)
        note.release()

    def _push(self, job_id: str) -> None:
        """Deliver a resolved job's targets through ``notify`` now, unless a
        notifier holds the job's notification lease."""
        assert self.notify is not None
        held = self._notes.acquire(job_id)
        if held is None:
            return
        note = self._claim_note(held)
        if note is None:
            return
        delivered = []
        job = note.job
        for target in note.waiting:
            try:
                self.notify(target, job)
            except Exception as exc:
                log.warning("notify(%r) for job %s failed: %s", target, job_id, exc)
            else:
                delivered.append(target)
        try:
            note.done(delivered)
        except LeaseLost:
            log.warning("notification lease on job %s was lost during delivery", job_id)
        finally:
            note.release()  # (done() released it, unless it raised)


def _claimed(claim: Callable[[Held, bool], _Handle | None], held: Held, taken_over: bool) -> _Handle | None:
    """claim(held, taken_over), giving the lease back if the claim fails: a lease
    left held would be renewed, and so kept from every other puller, until close."""
    try:
        return claim(held, taken_over)
    except BaseException:
        held.release()
        raise


def _key(target: Any) -> str:
    """A file name for a JSON value (a target, a resource): the same for equal
    values, whatever their key order."""
    # Round-trip first, so that what JSON cannot tell apart ({1: x} and {"1": x})
    # gets one key, and mixed key types can be sorted.
    text = canonical_json(json.loads(encode_json(target, "target")))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _inode(path: str) -> tuple[int, int] | None:
    """The identity of *path*'s file: inode number and change time."""
    try:
        info = fsio.lstat(path)
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_ctime_ns


def _check_seconds(name: str, value: object, *, zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (value >= 0 if zero else value > 0)
    if not ok or value != value or value == float("inf"):
        bound = "zero or more" if zero else "a positive number of"
        raise ValueError(f"{name} must be {bound} seconds, not {value!r}")


def _timestamp(when: datetime | timedelta | float | None) -> float | None:
    """An absolute time (seconds since the epoch) from a datetime or a delay."""
    if when is None:
        return None
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError("not_before must be a timezone-aware datetime")
        return when.timestamp()
    if isinstance(when, timedelta):
        return time.time() + when.total_seconds()
    _check_seconds("not_before", when, zero=True)
    return time.time() + float(when)


def _error_text(error: str | BaseException) -> str:
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}"
    if not isinstance(error, str):
        raise TypeError(f"error must be a str or an exception, not {type(error).__name__}")
    return error


def _too_large(what: str, size: int, limit: int) -> JobTooLarge:
    return JobTooLarge(f"{what} is {size} bytes, the store's limit is {limit}")
