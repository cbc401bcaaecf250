"""Where everything lives in a store folder; nothing else builds store paths.

::

    STORE/
      fsjobstore.json          store marker: {"format": 3, "created_at": ...}
      maintenance.lock         flock held by a purge or repair on this host
      tmp/                     files being written; never read; leftovers are purged
      pending/<b>/<id>.json    record of every unresolved job (the work index); <b> is the
                               id's first 7 characters (~33 s of creation time, pending_buckets.py)
      resolved/<bucket>/<id>.json  record of every fulfilled, failed or cancelled job;
                               <bucket> is the id's first 6 characters (~17.5 minutes of creation time)
      summaries/<bucket>.json  what stats/jobs/purge know of a bucket, trusted only while the bucket is unchanged
      waiting/<id>/<key>.json  one file per target waiting to be told the result
      due/<id>                 empty marker: job resolved with targets to notify
      keys/<hash>.json         a job's first record, under its unique key (create(key=...))
      queues/<to>/<priority>/<b>/<id>.json  record of an unresolved job addressed or prioritised (see queues)
      blocked/<id>.json        record of a job waiting for its parents (create(after=...)): in no queue yet
      dependants/<parent>/<id> empty marker: job <id> was created after <parent> (kept until <parent> is purged)
      leases/work/<id>         work lease (holder record, renewed in place)
      leases/notify/<id>       notification lease
      leases/resource/<key>    resource lease: one job per resource runs at a time
      leases/holders/<token>   a holder's record; each lease above is a hard link to one
      quarantine/              files check --repair could not parse (made on first use)
      workers/<id>.json        heartbeat record of each running Worker or Notifier (made on first use)
      schedules/<name>.json    a periodic job's schedule (made on first use)
      schedules/<name>/<tick>  empty marker: the latest tick of that schedule dealt with
      paused/store.json        the whole store is paused (made on first use)
      paused/task-<key>.json   one task is paused
      limits/resource-<key>.json, limits/task-<key>.json   how many of a resource's or task's jobs run at once

Hot folders hold only what is live: ``pending/`` only unresolved jobs, ``due/``
only jobs with undelivered targets, ``leases/*`` only held (or expired) leases. So
pulls never list the history of resolved jobs, and history is read bucket by
bucket (a bucket holds the jobs created in one stretch of time), never as a whole.
"""

from __future__ import annotations

import errno
import os
import threading
import time

from ..errors import CorruptJobFile
from . import folders
from .folders import Folder
from .ids import is_valid_id
from .pending_buckets import PENDING_BUCKET_CHARS, bucket_names, pending_bucket_of
from .queues import priority_of, queue_of
from .storepath import StorePath

STORE_MARKER = "fsjobstore.json"
MAINTENANCE_LOCK = "maintenance.lock"
RECORD_SUFFIX = ".json"
LEVELS_SECONDS = 1.0  # the longest a store object trusts its listing of an address's queue folders
# The store format this code reads and writes (the marker's "format"); 1 kept resolved
# records flat in resolved/, 2 pending ones flat in pending/ and each queue folder
# (`fsjobstore migrate` upgrades such a store).
STORE_FORMAT = 3
OLD_FORMATS = (1, 2)  # what `fsjobstore migrate` upgrades
# Bucket folders of pending records a store object keeps open to publish into (the
# newest, where creations go, and those of jobs retried or released lately).
PENDING_BUCKETS_OPEN = 64
# A resolved record's bucket is the first characters of its id: 6 of Crockford
# base32 are the top 28 of the 48 bits of milliseconds (the first carries 3), 2**20 ms
# (~17.5 minutes) of creation time per bucket, so a bucket's name sorts by time as ids do.
BUCKET_CHARS = 6
# A waiting target whose deliveries were given up: kept beside the waiting ones
# (for show and the dashboard) but never made due again.
UNDELIVERED_SUFFIX = ".undelivered"


# Why a folder cannot be made in a store that is only readable here.
_CANNOT_WRITE = (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC)


def bucket_of(job_id: str) -> str:
    return job_id[:BUCKET_CHARS]


class NotAFolder(Exception):
    """A folder of the store is a symlink, a file, or missing."""


class Layout:
    """The folders of one store, opened once."""

    def __init__(self, root: str, *, shared: bool = False) -> None:
        self.root = os.path.abspath(root)
        self.shared = shared
        self.top = Folder(self.root, shared=shared)
        self.marker = os.path.join(self.root, STORE_MARKER)
        self.tmp = Folder(os.path.join(self.root, "tmp"), shared=shared)
        self.pending = Folder(os.path.join(self.root, "pending"), shared=shared)
        self.resolved = Folder(os.path.join(self.root, "resolved"), shared=shared)
        self.summaries = Folder(os.path.join(self.root, "summaries"), shared=shared)
        self.waiting = Folder(os.path.join(self.root, "waiting"), shared=shared)
        self.due = Folder(os.path.join(self.root, "due"), shared=shared)
        self.keys = Folder(os.path.join(self.root, "keys"), shared=shared)
        self.queues = Folder(os.path.join(self.root, "queues"), shared=shared)
        self.blocked = Folder(os.path.join(self.root, "blocked"), shared=shared)
        self.dependants = Folder(os.path.join(self.root, "dependants"), shared=shared)
        # queues/<to> and queues/<to>/<priority> folders, anchored once they exist
        self._queue_folders: dict[str, Folder] = {}
        # to -> (link counts of queues/ and queues/<to>, monotonic time, when listed; its levels)
        self._levels: dict[str, tuple[tuple[int, int], float, tuple[tuple[int, Folder], ...]]] = {}
        self._queue_lock = threading.Lock()
        # "<parent path>/<bucket>" -> the pending bucket folder, anchored (see pending_folder)
        self._pending_buckets: dict[str, Folder] = {}
        self.leases = Folder(os.path.join(self.root, "leases"), shared=shared)
        self.work_leases = Folder(os.path.join(self.leases.path, "work"), shared=shared)
        self.notify_leases = Folder(os.path.join(self.leases.path, "notify"), shared=shared)
        self.resource_leases = Folder(os.path.join(self.leases.path, "resource"), shared=shared)
        self.holders = Folder(os.path.join(self.leases.path, "holders"), shared=shared)

    def folders(self) -> tuple[Folder, ...]:
        """Every folder, parents before children (the order to create them in)."""
        return (
            self.tmp,
            self.pending,
            self.resolved,
            self.summaries,
            self.waiting,
            self.due,
            self.keys,
            self.queues,
            self.blocked,
            self.dependants,
            self.leases,
            self.work_leases,
            self.notify_leases,
            self.resource_leases,
            self.holders,
        )

    def anchor(self, *, make: bool) -> None:
        """Open every folder once (making it first if *make* and it is missing), each
        within its parent and none through a symlink: from now on the store reaches
        them only through these. An existing folder is only opened, so opening a
        complete store writes nothing. Raises NotAFolder naming the first that is a
        symlink or not a folder."""
        self.top.anchor()
        for folder in self.folders():
            parent = self.leases if os.path.dirname(folder.path) == self.leases.path else self.top
            try:
                try:
                    folder.anchor(parent)
                except FileNotFoundError:
                    if not make:
                        raise
                    try:
                        folders.make_folder(parent.join(os.path.basename(folder.path)), shared=self.shared)
                    except OSError as exc:
                        if exc.errno not in _CANNOT_WRITE:
                            raise
                        # (a folder a later version added, in a store this process may only
                        # read: absent, so empty, until a writer makes it)
                        continue
                    folder.anchor(parent)
            except (FileNotFoundError, CorruptJobFile):
                raise NotAFolder(folder.path) from None

    def pending_path(self, job_id: str) -> str:
        """The pending record's path, relative to its anchored parent (``pending/`` or
        its queue's folder): reached with no open of its bucket."""
        return StorePath(*self.pending_entry(job_id))

    def pending_entry(self, job_id: str) -> tuple[Folder, str]:
        """(the anchored parent of the job's bucket, ``<bucket>/<id>.json`` within it):
        what ``fsio.remove_in`` and ``exists_in`` take, for the calls every state
        change makes (no StorePath made)."""
        # (pending_bucket_of, inlined: every state change of every job comes here)
        name = f"{job_id[:PENDING_BUCKET_CHARS]}/{job_id}{RECORD_SUFFIX}"
        queue = queue_of(job_id) if "-" in job_id else None  # (the common case: a job of the default queue)
        if queue is None:
            return self.pending, name
        folder = self.queue_folder(*queue)
        if folder is None:  # absent: calls fail with ENOENT
            return self.queues, f"{queue[0]}/{queue[1]}/{name}"
        return folder, name

    def pending_parent(self, job_id: str, *, durable: bool) -> Folder:
        """The folder of the job's pending bucket: ``pending/`` or its queue's (made if missing)."""
        queue = queue_of(job_id) if "-" in job_id else None
        if queue is None:
            return self.pending
        folder = self.queue_folder(*queue, make=True, durable=durable)
        assert folder is not None
        return folder

    def pending_folder(self, job_id: str, *, durable: bool, again: bool = False) -> Folder:
        """The bucket folder of the job's pending record, anchored and kept open (made
        if missing; with *durable*, its entry in its parent fsynced before it is
        used, whoever made it). *again*: anchored anew, the one kept having been
        removed (empty) since: a publish through it failed with ENOENT."""
        parent = self.pending if "-" not in job_id else self.pending_parent(job_id, durable=durable)
        bucket = pending_bucket_of(job_id)
        key = f"{parent.path}/{bucket}"
        if not again:
            kept = self._pending_buckets.get(key)
            if kept is not None:
                return kept
        # (Not closed when dropped from the dict, but when its last user lets go of it:
        # a thread may be publishing through it.)
        folder = Folder(key, keep_open=False, shared=self.shared)
        for tries_left in (2, 1, 0):
            folders.make_folder(parent.join(bucket), shared=self.shared)
            if durable:
                parent.sync()
            try:
                folder.anchor(parent)
                break
            except FileNotFoundError:  # (removed, empty, by a purge in between)
                if not tries_left:
                    raise
        with self._queue_lock:
            buckets = self._pending_buckets
            buckets.pop(key, None)
            if len(buckets) >= PENDING_BUCKETS_OPEN:
                del buckets[next(iter(buckets))]
            buckets[key] = folder
        return folder

    def queue_folder(self, to: str, priority: str | None = None, *, make: bool = False,
                     durable: bool = False) -> Folder | None:
        """``queues/<to>`` or ``queues/<to>/<priority>``, anchored within its parent and
        kept open; None if it does not exist (made first if *make*, its entry made
        durable if *durable*)."""
        name = to if priority is None else f"{to}/{priority}"
        folder = self._queue_folders.get(name)
        if folder is not None:
            return folder
        parent = self.queues if priority is None else self.queue_folder(to, make=make, durable=durable)
        if parent is None:
            return None
        base = to if priority is None else priority
        folder = Folder(os.path.join(parent.path, base), shared=self.shared)
        try:
            folder.anchor(parent)
        except FileNotFoundError:
            if not make:
                return None
            if folders.make_folder(parent.join(base), shared=self.shared) and durable:
                parent.sync()
            folder.anchor(parent)
        with self._queue_lock:
            kept = self._queue_folders.setdefault(name, folder)
        if kept is not folder:
            folder.close()  # (another thread anchored it first)
        return kept

    def queue_levels(self, to: str) -> tuple[tuple[int, Folder], ...]:
        """(priority, folder) of each queue of jobs addressed to *to* (an
        ``address_name``), highest priority first; ``pending/`` is not among them.
        Listed again only when ``queues/`` or ``queues/<to>`` gained a folder (a pull
        asks every time): each new folder adds a link to its parent, so their link
        counts (one fstat each, through the descriptors held) say so; and at least
        every LEVELS_SECONDS, for filesystems whose folders count no links (btrfs)."""
        stamp = (_links(self.queues), _links(self._queue_folders.get(to)))
        now = time.monotonic()
        cached = self._levels.get(to)
        if cached is not None and cached[0] == stamp and now - cached[1] < LEVELS_SECONDS:
            return cached[2]
        levels = tuple(self._list_levels(to))
        if cached is not None and cached[2] == levels:
            levels = cached[2]  # (the same object while unchanged: callers may cache what they make of it)
        self._levels[to] = (stamp, now, levels)
        return levels

    def _list_levels(self, to: str) -> list[tuple[int, Folder]]:
        try:
            parent = self.queue_folder(to)
        except CorruptJobFile:
            return []  # a symlink planted there: never followed (check reports it)
        if parent is None:
            return []
        levels = []
        for name in parent.names():
            priority = priority_of(name)
            try:
                folder = None if priority is None else self.queue_folder(to, name)
            except CorruptJobFile:
                continue
            if priority is not None and folder is not None:
                levels.append((priority, folder))
        levels.sort(key=lambda level: -level[0])
        return levels

    def pending_parents(self) -> list[Folder]:
        """``pending/`` and every queue folder: the parents of the buckets all
        unresolved jobs are in."""
        found = [self.pending]
        for to in sorted(self.queues.names()):
            found.extend(folder for _, folder in self.queue_levels(to))
        return found

    def pending_buckets(self, parent: Folder) -> list[Folder]:
        """The bucket folders of *parent* (a pending parent), oldest first; each
        anchored at first use."""
        return [Folder(parent.join(name), keep_open=False, shared=self.shared) for name in bucket_names(parent)]

    def pending_folders(self) -> list[Folder]:
        """Every pending bucket folder: where all unresolved jobs are."""
        return [bucket for parent in self.pending_parents() for bucket in self.pending_buckets(parent)]

    def resolved_path(self, job_id: str) -> str:
        return self.bucket(bucket_of(job_id)).join(job_id + RECORD_SUFFIX)

    def resolved_name(self, job_id: str) -> str:
        """The resolved record's name within ``resolved/`` (bucket and file): what the
        hot path looks for with one lstat, without opening the bucket."""
        return f"{bucket_of(job_id)}/{job_id}{RECORD_SUFFIX}"

    def bucket(self, name: str) -> Folder:
        """The folder of resolved records whose ids begin with *name* (anchored at
        first use; a path in it fails with ENOENT while it does not exist)."""
        return Folder(self.resolved.join(name), keep_open=False, shared=self.shared)

    def buckets(self) -> list[str]:
        """The names of the resolved buckets, oldest first."""
        return sorted(name for name in self.resolved.names() if len(name) <= BUCKET_CHARS and is_valid_id(name))

    def blocked_path(self, job_id: str) -> str:
        return self.blocked.join(job_id + RECORD_SUFFIX)

    def dependants_folder(self, parent: str) -> Folder:
        return Folder(self.dependants.join(parent), keep_open=False, shared=self.shared)

    def waiting_folder(self, job_id: str) -> Folder:
        return Folder(self.waiting.join(job_id), keep_open=False, shared=self.shared)

    def control_folder(self, name: str) -> Folder:
        """A folder of the store made on first use, reached through the anchored top
        folder: ``quarantine`` (what ``check --repair`` cannot parse), ``workers``
        (heartbeat records), ``schedules``, and the control folders ``paused`` and
        ``limits`` (a file per setting)."""
        return Folder(self.top.join(name), keep_open=False, shared=self.shared)

    def quarantine_folder(self) -> Folder:
        return self.control_folder("quarantine")

    def workers_folder(self) -> Folder:
        return self.control_folder("workers")

    def schedules_folder(self) -> Folder:
        return self.control_folder("schedules")

    def close(self) -> None:
        with self._queue_lock:
            queue_folders, self._queue_folders = list(self._queue_folders.values()), {}
            self._pending_buckets.clear()
        for folder in queue_folders:
            folder.close()
        for folder in self.folders():
            folder.close()
        self.top.close()


def _links(folder: Folder | None) -> int:
    """The link count of an anchored folder (2 + its subfolders); 0 if there is none."""
    fd = None if folder is None else folder.fd
    return 0 if fd is None else os.fstat(fd).st_nlink
