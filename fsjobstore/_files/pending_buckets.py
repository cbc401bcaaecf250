"""The bucket folders unresolved records live in (format 3).

A pending record is ``pending/<b>/<id>.json`` (a queued one
``queues/<to>/<priority>/<b>/<id>.json``), ``<b>`` the id's first
``PENDING_BUCKET_CHARS`` characters, the whole id if it is shorter. Of a store-made
id those 7 characters of Crockford base32 are the top 33 of its 48 bits of
milliseconds (the first character carries 3): 2**15 ms, ~33 s of creation time per
bucket, so a backlog of 100,000 jobs made over an hour is ~110 folders of ~900.
Hand-made and imported ids follow the same rule, whatever their characters.

A bucket's name is a prefix of every id in it (or the id itself), so buckets sort
as their ids do: walking them in name order lists every id in order, and a
listing that starts after an id skips the buckets wholly before it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator, Iterable

from .folders import Folder, scan_inodes_in
from .ids import is_valid_id

PENDING_BUCKET_CHARS = 7
# The longest a listing of a parent's buckets is trusted while the parent's own
# status says nothing changed (a filesystem whose mtimes are coarse, or whose
# folders count no links, may hide a new bucket behind an unchanged status).
RELIST_SECONDS = 1.0


def pending_bucket_of(job_id: str) -> str:
    return job_id[:PENDING_BUCKET_CHARS]


def is_pending_bucket(name: str) -> bool:
    return len(name) <= PENDING_BUCKET_CHARS and is_valid_id(name)


def bucket_names(parent: Folder) -> list[str]:
    """The bucket names in *parent*, oldest first (what else it holds is not listed)."""
    return sorted(name for name in parent.names() if is_pending_bucket(name))


def skipped(bucket: str, after: str | None, newest_first: bool) -> bool:
    """Whether every id of *bucket* comes before *after* in the listing's order (ids
    sort as their buckets do: a bucket's name is a prefix of each of its ids)."""
    if after is None:
        return False
    edge = after[: len(bucket)]
    return bucket > edge if newest_first else bucket < edge


class BucketList:
    """The buckets of one parent folder, listed again only when the parent changed:
    one fstat of its descriptor says so (a bucket made or removed changes its mtime
    and link count), and at least every RELIST_SECONDS."""

    def __init__(self, parent: Folder) -> None:
        self.parent = parent
        self._stamp: tuple[int, int, int] | None = None
        self._at = -RELIST_SECONDS
        self._names: list[str] = []

    def names(self) -> list[str]:
        fd = self.parent.fd
        if fd is None:
            return bucket_names(self.parent)
        info = os.fstat(fd)
        stamp = (info.st_ino, info.st_nlink, info.st_mtime_ns)
        now = time.monotonic()
        if stamp != self._stamp or now - self._at >= RELIST_SECONDS:
            self._names = bucket_names(self.parent)
            self._stamp, self._at = stamp, now
        return self._names


def scan_buckets(parent: Folder, buckets: Iterable[str], suffix: str) -> Generator[tuple[str, int], None, None]:
    """(stem, inode) of each record in the *buckets* of *parent*, bucket by bucket in
    the order given; a bucket removed since it was listed, or a symlink planted as
    one (never followed: ``check`` reports it), holds none."""
    for bucket in buckets:
        yield from scan_inodes_in(parent, bucket, suffix)
