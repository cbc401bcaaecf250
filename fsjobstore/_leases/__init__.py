"""Exclusive, renewable, expiring leases on names in one folder.

This layer knows nothing about jobs: it leases a *name*. Work, notification and
resource leases are the same mechanism on three folders.

The protocol (docs/format.md, "Leases", states it with its invariants):

* **Holders.** A holder (one per store object and lease length) keeps one record
  file, ``holders/<token>``: its random token, host, pid, lease length and a beat
  counter, at a fixed width. Every lease it holds is a *hard link* to that file,
  so holding a lease costs a directory entry, not a file, and one write renews
  every lease of the holder at once.
* **Acquire** a free name: ``link(holders/<token>, <name>)``. ``link`` never replaces
  an existing name, so exactly one linker succeeds, on a local disk and over NFS
  (where a retried link whose first reply was lost says EEXIST: the name then
  holds our own record, which counts as success).
* **Renew**: every ``lease_seconds / 3`` the holder rewrites its record in place
  through its own descriptor with the beat counter advanced (``pwrite`` of the
  fixed-width record, then ``fsync`` so other NFS clients see it), then re-reads
  each of its names to check that they still hold its token. Writing through the
  descriptor can never touch another holder's record.
* **Expire**: a contender reads the record on every sweep and remembers when, by
  its own monotonic clock, it last saw it change. A record that stayed the same for
  ``lease_seconds`` of the contender's clock is expired. No wall clock and no file
  mtime is ever compared, so hosts need not agree on the time. A holder whose
  record is older than a third of its lease writes a fresh beat before it links a
  new name, so an idle holder's old record never makes a new lease look expired.
* **Take over** an expired lease: contenders take turns by creating
  ``<name>.break`` with ``O_EXCL``. The one holding it re-reads the lease and, only
  if the record is still the expired one, links its own record as
  ``<name>.new-<random>`` and renames that over ``<name>``. The name never goes
  missing, so a plain acquire cannot slip in, and the old holder's next check
  finds a token that is not its own.
* **Fence**: every commit first checks the record on disk still carries the
  holder's token (renewing first if the last renewal is old). A holder that finds
  its token gone is *compromised*: its callback is called once and every later
  commit raises LeaseLost.

filelock's ``SoftFileLease`` needs ``renameat2(RENAME_EXCHANGE)`` to take over, which
NFS refuses, and ``SoftReadWriteLock`` costs ~3.8 ms and a thread per lock; this
protocol costs one ``link`` to acquire and one ``unlink`` to release, and one
renewal thread per store for all its leases.
"""

from __future__ import annotations

from .folder import LeaseFolder
from .holders import HolderPool, HolderRecord
from .lease import Lease
from .renewer import Renewer

__all__ = ["HolderPool", "HolderRecord", "Lease", "LeaseFolder", "Renewer"]
