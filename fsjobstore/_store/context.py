"""What every workflow of one store object shares: its folders, options, leases,
candidate indexes, and the reads and writes more than one workflow makes."""

from __future__ import annotations

import errno
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .._files import folders, fsio
from .._files.folders import Folder
from .._files.layout import (
    RECORD_SUFFIX,
    UNDELIVERED_SUFFIX,
    Layout,
    bucket_of,
)
from .._files.queues import ANYONE, queue_of
from .._files.records import Record
from .._leases import HolderPool, LeaseFolder, Renewer
from .._leases.fork import forget_in_child
from ..errors import CorruptJobFile, JobNotFound
from ..job import BLOCKED, PENDING, RUNNING, Job
from .candidates import Candidates
from .dependencies import Dependencies
from .limits import Limits
from .open_bucket import OpenBucket
from .opening import open_layout
from .pausing import Pauses
from .recent import Recent
from .written import Written

log = logging.getLogger("fsjobstore")

Notify = Callable[[Any, Job], object]
T = TypeVar("T")

# Buckets whose record entries a store object keeps (the ones being resolved into
# change; older ones rarely): ~100 bytes per record.
BUCKETS_REMEMBERED = 8
# Summaries a store object keeps (a few hundred bytes each): a week of buckets is ~580.
SUMMARIES_REMEMBERED = 4096


@dataclass(frozen=True)
class Options:
    """A store object's settings (see JobStore for each)."""

    lease_seconds: float
    durable: bool
    notify: Notify | None
    max_bytes: int
    retention: float | None
    watch: bool
    poll_interval: float
    group_shared: bool


class StoreContext:
    """One open store: the layers below, set up once and shared by the workflows."""

    def __init__(self, path: str, options: Options, *, create: bool) -> None:
        self.path = path
        self.options = options
        self.durable = options.durable  # (read on every write: an attribute, not a property)
        self.layout = Layout(path, shared=options.group_shared)
        try:
            open_layout(self.layout, create, durable=options.durable, group_shared=options.group_shared)
        except BaseException:
            self.layout.close()  # (the folders anchored before the failure)
            raise
        self.renewer = Renewer()
        self.holders = HolderPool(self.layout.holders)
        self.work_leases, self.note_leases, self.resource_leases = (
            LeaseFolder(folder, options.lease_seconds, self.renewer, self.holders)
            for folder in (self.layout.work_leases, self.layout.notify_leases, self.layout.resource_leases)
        )
        self.pending = Candidates(self.layout.pending, RECORD_SUFFIX, bucketed=True)
        # The index of each queue folder this store object pulled from (see _files/queues).
        self._indexes: dict[str, Candidates] = {self.layout.pending.path: self.pending}
        # to -> (its queue levels as last listed, the indexes a pull tries in turn)
        self._pull_orders: dict[str, tuple[object, list[Candidates]]] = {}
        self.due = Candidates(self.layout.due, "")
        self.pauses = Pauses(self.layout, durable=options.durable)
        self.limits = Limits(self.layout, durable=options.durable)
        self.dependencies = Dependencies(self, options.lease_seconds)
        # One pull at a time per store object: its candidate indexes are not shared
        # between threads.
        self.pull_lock = threading.Lock()
        self._reported: set[str] = set()
        # The pending records this store object wrote last: a pull that takes one of
        # them finds it as written, without parsing it again (see Written).
        self.written = Written()
        # The bucket of the last resolution, made and open (open_bucket.py).
        self.open_bucket = OpenBucket(self._make_bucket)
        # What bucket reads learnt of each record, and settled summaries (buckets.py).
        self.bucket_entries: Recent[str, dict[str, tuple[Any, ...]]] = Recent(BUCKETS_REMEMBERED)
        self.bucket_summaries: Recent[str, Any] = Recent(SUMMARIES_REMEMBERED)
        forget_in_child(self)

    def forget(self) -> None:
        # A thread of the parent may have held the pull lock at the fork.
        self.pull_lock = threading.Lock()
        self.open_bucket.forget()

    def close(self) -> None:
        self.renewer.release_all()
        self.renewer.stop()
        self.holders.close()
        self.open_bucket.close()
        for index in list(self._indexes.values()):
            index.close()
        self.due.close()
        self.layout.close()

    def abandon(self) -> None:
        """What a SIGKILL does to this store object: renewals stop, descriptors close,
        and nothing held is released or cleaned up (for tests of recovery)."""
        self.renewer.forget()
        self.renewer.stop()
        self.holders.forget()
        self.open_bucket.close()
        self.layout.close()

    # -- queues -------------------------------------------------------------------

    def _index(self, folder: Folder) -> Candidates:
        index = self._indexes.get(folder.path)
        if index is None:
            index = self._indexes[folder.path] = Candidates(folder, RECORD_SUFFIX, bucketed=True)
        return index

    def index_of(self, job_id: str) -> Candidates:
        """The index of the queue *job_id* is in (where a puller defers it)."""
        queue = queue_of(job_id)
        folder = None if queue is None else self.layout.queue_folder(*queue)
        return self.pending if folder is None else self._index(folder)

    def indexes_for(self, to: str) -> list[Candidates]:
        """The indexes a puller of jobs addressed to *to* (an ``address_name``) tries,
        highest priority first: ``pending/`` is the queue of priority 0 to anyone."""
        levels = self.layout.queue_levels(to)
        cached = self._pull_orders.get(to)
        if cached is not None and cached[0] is levels:
            return cached[1]
        ordered = [*levels, (0, self.layout.pending)] if to == ANYONE else list(levels)
        ordered.sort(key=lambda level: -level[0])  # (stable: a queue folder of priority 0 first)
        indexes = [self._index(folder) for _, folder in ordered]
        self._pull_orders[to] = (levels, indexes)
        return indexes

    def next_due(self) -> float | None:
        """Seconds until the earliest name deferred in any queue may be tried again."""
        waits = [wait for index in list(self._indexes.values()) if (wait := index.next_due()) is not None]
        return min(waits, default=None)

    def report(self, exc: CorruptJobFile) -> None:
        """Log a corrupt file once per store object, so that a loop passing it again
        does not flood the log."""
        if exc.path not in self._reported:
            self._reported.add(exc.path)
            log.error("skipping %s (`fsjobstore check --repair` moves it to quarantine/)", exc)

    # -- records ------------------------------------------------------------------

    def read(self, job_id: str) -> tuple[Record, str]:
        """The job's record and its state now. Raises JobNotFound, CorruptJobFile."""
        # The resolved record is the truth: it is published (create-if-absent)
        # before the pending one is removed, so read it first, then pending, then
        # it again for a job resolved between the two reads. A blocked record comes
        # after the pending one (a settler that stopped midway left both: the pending
        # one is the truth), and the pending one again after it (a release publishes
        # the pending record, then removes the blocked one).
        layout = self.layout
        resolved, pending = layout.resolved_path(job_id), layout.pending_path(job_id)  # (its bucket opened once)
        blocked = layout.blocked_path(job_id)
        for path in (resolved, pending, blocked, pending, resolved):
            try:
                record = Record.load(path, job_id)
            except FileNotFoundError:
                continue
            state = record.state
            if state == PENDING:
                if path is blocked:
                    state = BLOCKED
                elif self.work_leases.is_held(job_id):
                    state = RUNNING
            return record, state
        raise JobNotFound(job_id)

    def read_resolved(self, job_id: str) -> Record | None:
        path = self.layout.resolved_path(job_id)
        try:
            return Record.load(path, job_id)
        except FileNotFoundError:
            return None

    def publish_resolved(self, job_id: str, data: bytes, *, replace: bool = False) -> None:
        """Publish a resolved record (create-if-absent: FileExistsError if the job is
        resolved already; with *replace*, over it), in its bucket, made first if this
        store object has not just used it (one mkdir per bucket per store object, so
        the link is the one commit point)."""
        bucket, name, tmp = bucket_of(job_id), job_id + RECORD_SUFFIX, self.layout.tmp
        held = self.open_bucket.take(bucket)
        try:
            fsio.publish(tmp, held.folder, name, data, durable=self.durable, replace=replace)
            return
        except OSError as exc:
            # A purge removed the bucket, empty, since this store object opened it
            # (ESTALE: on another NFS client).
            if exc.errno not in (errno.ENOENT, errno.ESTALE):
                raise
        finally:
            self.open_bucket.give_back(held)
        held = self.open_bucket.take(bucket, again=True)
        try:
            fsio.publish(tmp, held.folder, name, data, durable=self.durable, replace=replace)
        finally:
            self.open_bucket.give_back(held)

    def _make_bucket(self, bucket: str) -> Folder:
        """Make the bucket if absent and open it: kept open while resolutions go to it."""
        layout = self.layout
        folder = layout.bucket(bucket)
        for tries_left in (1, 0):
            if folders.make_folder(layout.resolved.join(bucket), shared=layout.shared) and self.durable:
                layout.resolved.sync()
            try:
                folder.anchor()
                break
            except FileNotFoundError:  # (removed, empty, by a purge in between)
                if not tries_left:
                    raise
        return folder

    def into_pending(self, job_id: str, publish: Callable[[Folder], T], *, gone: bool = False) -> T:
        """``publish(bucket)`` with the folder of the job's pending bucket, made if
        missing; once more, the bucket made again, if it failed with ENOENT because
        a purge removed the bucket, empty, in between (ESTALE: on another NFS
        client). *publish* must be worth repeating after such a failure (a rename
        or a link that did not happen). *gone*: such a failure has happened already."""
        layout, durable = self.layout, self.durable
        if not gone:
            try:
                return publish(layout.pending_folder(job_id, durable=durable))
            except OSError as exc:
                if exc.errno not in (errno.ENOENT, errno.ESTALE):
                    raise
        return publish(layout.pending_folder(job_id, durable=durable, again=True))

    def write_pending(self, record: Record) -> None:
        layout, job_id, durable = self.layout, record.id, self.durable
        data = record.render()
        name = job_id + RECORD_SUFFIX
        # (Published here, not through into_pending, in the common case: a call less on
        # every create and retry.)
        try:
            fsio.publish(layout.tmp, layout.pending_folder(job_id, durable=durable), name, data, durable=durable,
                         replace=True)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ESTALE):
                raise
            self.into_pending(job_id, lambda bucket: fsio.publish(layout.tmp, bucket, name, data, durable=durable,
                                                                  replace=True), gone=True)
        self.written.remember(record, data)

    def finish_resolution(self, job_id: str, *, blocked: bool = False) -> bool:
        """After the resolved record is published: make its targets due, drop the
        pending record (the blocked one, if it was *blocked*), settle the jobs made
        after it. Idempotent, so a puller (or a repair) can finish a crashed
        resolver's work. Returns whether targets are waiting."""
        layout = self.layout
        due = self.has_waiting(job_id)
        if due:
            fsio.create_empty(layout.due, job_id, durable=self.durable)
        # Not fsynced: if a crash undoes the unlink, the next puller finishes it.
        fsio.remove_in(*layout.pending_entry(job_id))
        if blocked:
            fsio.remove_in(layout.blocked, job_id + RECORD_SUFFIX)
        self.dependencies.parent_resolved(job_id)
        return due

    # -- waiting targets ----------------------------------------------------------

    def waiting_entries(self, job_id: str, suffix: str = RECORD_SUFFIX) -> list[tuple[str, dict[str, Any]]]:
        """(key, fields) of each waiting target (with UNDELIVERED_SUFFIX: of each
        given up), oldest first."""
        folder = self.layout.waiting_folder(job_id)
        try:
            keys = list(folders.scan(folder, suffix))
        except CorruptJobFile as exc:  # a symlink or a file planted there: never followed
            self.report(exc)
            return []
        entries = []
        for key in keys:
            path = folder.join(key + suffix)  # (the folder is anchored by the scan above)
            try:
                entries.append((key, parse_waiting(fsio.read(path), path)))
            except FileNotFoundError:
                continue
            except CorruptJobFile as exc:
                self.report(exc)
        entries.sort(key=lambda e: (e[1]["queued_at"], e[0]))
        return entries

    def has_waiting(self, job_id: str) -> bool:
        """Whether the job has a target waiting (not given up): one open when it has none."""
        try:
            return folders.holds_stems(self.layout.waiting, job_id, RECORD_SUFFIX)
        except CorruptJobFile:  # (a symlink planted as the folder: never followed)
            return False

    def job(self, record: Record, state: str | None = None) -> Job:
        """The job of *record*, with its waiting targets and its failed deliveries."""
        job_id = record.id
        waiting = self.waiting_entries(job_id)
        failed = [_failure(fields, given_up=False) for _, fields in waiting if fields.get("failures")]
        failed += [_failure(fields, given_up=True) for _, fields in self.waiting_entries(job_id, UNDELIVERED_SUFFIX)]
        return record.job(state=state, waiting=tuple(fields["target"] for _, fields in waiting),
                          failed_deliveries=tuple(failed))


def _failure(fields: dict[str, Any], *, given_up: bool) -> dict[str, Any]:
    return {"target": fields["target"], "failures": fields.get("failures", 0), "last_error": fields.get("last_error"),
            "last_failed_at": fields.get("last_failed_at"), "given_up": given_up}


# A waiting target's file: what must be there, and what a failed delivery adds.
_WAITING_FIELDS: dict[str, type | tuple[type, ...]] = {"queued_at": str, "failures": int, "last_error": str,
                                                       "last_failed_at": str}


def parse_waiting(data: bytes, path: str) -> dict[str, Any]:
    """The fields of a waiting target's file; CorruptJobFile if it is not one."""
    try:
        fields = json.loads(data)
        if not isinstance(fields, dict) or "target" not in fields or "queued_at" not in fields:
            raise ValueError("not an object with target and queued_at")
        for name, kind in _WAITING_FIELDS.items():
            if name in fields and (not isinstance(fields[name], kind) or isinstance(fields[name], bool)):
                raise ValueError(f"{name} is not a {getattr(kind, '__name__', kind)}")
    except (ValueError, RecursionError) as exc:
        raise CorruptJobFile(path, f"not a waiting target ({exc})") from None
    return fields
