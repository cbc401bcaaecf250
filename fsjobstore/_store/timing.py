"""When a pending job may be started, and whether it is too late to: judged, as
docs/format.md says, without comparing two hosts' clocks."""

from __future__ import annotations

import time

from .._files import fsio
from .._files.records import Record
from .._leases import Lease


def wait_seconds(lease: Lease, record: Record, path: str) -> float:
    """Seconds until the job may be worked on. A datetime is judged by this host's
    wall clock (the documented contract); a relative delay by the filesystem's
    clock alone: its record's mtime against the change time of our holder record,
    which linking the lease on it has just set, so no two hosts' clocks are compared."""
    start = record.not_before()
    wait = 0.0 if start is None else start - time.time()
    if record.delay:
        try:
            written = fsio.lstat(path).st_mtime
        except FileNotFoundError:
            return wait  # resolved since it was read: the claim finds that out
        wait = max(wait, written + record.delay - lease.holder.changed_at())
    return wait


def past_deadline(lease: Lease, record: Record, path: str) -> bool:
    """Whether a job never started is past its deadline: a datetime by this host's
    wall clock (as ``not_before``), seconds after its record was written by the
    filesystem's clock (as a delay, see wait_seconds). A job started once (an attempt
    counted or committed) has no deadline any more."""
    if record.attempts or record.get("history"):
        return False
    by = record.deadline()
    if by is not None and time.time() >= by:
        return True
    seconds = record.get("deadline_in")
    if not seconds:
        return False
    try:
        written = fsio.lstat(path).st_mtime
    except FileNotFoundError:
        return False  # resolved since it was read: the commit finds that out
    return lease.holder.changed_at() >= written + float(seconds)
