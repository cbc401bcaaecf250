"""Where everything lives in a store folder; nothing else builds store paths.

::

    STORE/
      fsjobstore.json          store marker: {"format": 2, "created_at": ...}
      maintenance.lock         flock held by a purge or repair on this host
      tmp/                     files being written; never read; leftovers are purged
      pending/<id>.json        record of every unresolved job (the work index)
      resolved/<bucket>/<id>.json  record of every fulfilled, failed or cancelled job;
                               <bucket> is the id's first 6 characters (~17.5 minutes of creation time)
      summaries/<bucket>.json  what stats/jobs/purge know of a bucket, trusted only while the bucket is unchanged
      waiting/<id>/<key>.json  one file per target waiting to be told the result
      due/<id>                 empty marker: job resolved with targets to notify
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

import os

from ..errors import CorruptJobFile
from . import folders
from .folders import Folder
from .ids import is_valid_id

STORE_MARKER = "fsjobstore.json"
MAINTENANCE_LOCK = "maintenance.lock"
RECORD_SUFFIX = ".json"
# The store format this code reads and writes (the marker's "format"); 1 kept resolved
# records flat in resolved/ (`fsjobstore migrate` upgrades such a store).
STORE_FORMAT = 2
# A resolved record's bucket is the first characters of its id: 6 of Crockford
# base32 are the top 30 of the 48 bits of milliseconds, 2**18 ms (~17.5 minutes)
# of creation time per bucket, so a bucket's name sorts by time as ids do.
BUCKET_CHARS = 6
# A waiting target whose deliveries were given up: kept beside the waiting ones
# (for show and the dashboard) but never made due again.
UNDELIVERED_SUFFIX = ".undelivered"


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
                    folders.make_folder(parent.join(os.path.basename(folder.path)), shared=self.shared)
                    folder.anchor(parent)
            except (FileNotFoundError, CorruptJobFile):
                raise NotAFolder(folder.path) from None

    def pending_path(self, job_id: str) -> str:
        return self.pending.join(job_id + RECORD_SUFFIX)

    def resolved_path(self, job_id: str) -> str:
        return self.bucket(bucket_of(job_id)).join(job_id + RECORD_SUFFIX)

    def bucket(self, name: str) -> Folder:
        """The folder of resolved records whose ids begin with *name* (anchored at
        first use; a path in it fails with ENOENT while it does not exist)."""
        return Folder(self.resolved.join(name), keep_open=False, shared=self.shared)

    def buckets(self) -> list[str]:
        """The names of the resolved buckets, oldest first."""
        return sorted(name for name in self.resolved.names() if len(name) <= BUCKET_CHARS and is_valid_id(name))

    def waiting_folder(self, job_id: str) -> Folder:
        return Folder(self.waiting.join(job_id), keep_open=False, shared=self.shared)

    def quarantine_folder(self) -> Folder:
        """Where ``check --repair`` moves files it cannot parse (made on first use)."""
        return Folder(self.top.join("quarantine"), keep_open=False, shared=self.shared)

    def workers_folder(self) -> Folder:
        """Heartbeat records of running loops (made on first use)."""
        return Folder(self.top.join("workers"), keep_open=False, shared=self.shared)

    def schedules_folder(self) -> Folder:
        """Schedules of periodic jobs, and the latest tick of each (made on first use)."""
        return Folder(self.top.join("schedules"), keep_open=False, shared=self.shared)

    def control_folder(self, name: str) -> Folder:
        """A control folder (``paused``, ``limits``): a file per setting, made on first use."""
        return Folder(self.top.join(name), keep_open=False, shared=self.shared)

    def close(self) -> None:
        for folder in self.folders():
            folder.close()
        self.top.close()
