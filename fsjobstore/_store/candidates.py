"""The names a puller tries next, read from an index folder a chunk at a time.

Listing a whole folder costs time in proportion to its size, and a puller that
listed 50,000 pending jobs before its first claim would make that claim slow.
So a puller reads the folder as a stream, ``CHUNK`` entries at a time, and hands
out each chunk's names before it reads the next; when the stream ends it starts
a new *pass*. The cost of a pull is then flat in the backlog.

An index of pending records (``bucketed``) reads the bucket folders of its folder
(``pending/`` or a queue folder, see ``_files/pending_buckets``) oldest first, as
listed when the pass began, each as a stream: a chunk may span several small
buckets, and a bucket made since the pass began is read by the next one.

Order. A folder (of an index of pending records: a run of buckets) of up to
``CHUNK`` entries is read in one chunk, so its names are tried oldest first (ids
sort by creation time). A larger flat folder comes in directory order (hash order
on ext4), each chunk sorted: creation order only within a chunk; buckets come
oldest first, so a backlog is tried about oldest first. What always holds: a pass tries every name present when it
started and still present (but for deferred ones), so no job waits longer than
one pass. Names within a chunk are shuffled in blocks of 16 so that several
pullers do not all try the same name at once.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Generator, Iterator
from typing import Any

from .._files import folders, fsio
from .._files.folders import Folder
from .._files.pending_buckets import BucketList, pending_bucket_of, scan_buckets
from .._files.storepath import StorePath

_BLOCK = 16
CHUNK = 4096
# Seconds after a chunk is read during which its names are taken as still there
# (see present).
FRESH = 0.01


class Candidates:
    def __init__(self, folder: Folder, suffix: str, *, bucketed: bool = False) -> None:
        self._folder = folder
        self._suffix = suffix
        # The buckets of the folder (None: its entries are the names themselves).
        self._buckets = BucketList(folder) if bucketed else None
        self._names: deque[str] = deque()
        # The open directory stream of the current pass (None between passes).
        self._stream: Generator[tuple[str, int], None, None] | None = None
        # name -> monotonic time before which it is not worth trying again
        self._deferred: dict[str, float] = {}
        # name -> (inode, change time) of its file when deferred: a rewritten file
        # (e.g. a retry by another process) ends the deferral when it is read again.
        # The change time too, because ext4 gives a new file the inode number just
        # freed (a cancel removes the record, then the retry writes a new one).
        self._deferred_inode: dict[str, tuple[int, int]] = {}
        # name -> what a puller learnt of it (e.g. its task), kept while it is listed
        self._notes: dict[str, object] = {}
        # names deferred or noted that the current pass has read: what of them
        # survives into the next pass (only those, so memory stays flat in the backlog)
        self._listed: set[str] = set()
        self._passes = 0  # passes ended so far
        self._read_at = -math.inf  # monotonic time the last chunk was read

    def note(self, name: str, value: object) -> None:
        self._notes[name] = value
        self._seen_in_pass(name)

    def noted(self, name: str) -> Any:
        return self._notes.get(name)

    def defer(self, name: str, seconds: float, identity: tuple[int, int] | None = None) -> None:
        """Skip *name* for *seconds* (it is not workable yet); given its file's
        *identity* (``fsio.identity``), only until that file is replaced (a retry
        by another process, say)."""
        self._deferred[name] = time.monotonic() + seconds
        self._seen_in_pass(name)
        if identity is not None:
            self._deferred_inode[name] = identity

    def path_of(self, name: str) -> str:
        if self._buckets is not None:
            return StorePath(self._folder, f"{pending_bucket_of(name)}/{name}{self._suffix}")
        return self._folder.join(name + self._suffix)

    def present(self, name: str) -> bool:
        """Whether *name*'s file is still there: one lstat, far cheaper than a lease
        on a job another puller finished since this one listed it. Not asked for a
        chunk read within the last ``FRESH`` seconds: the listing has just said so
        (and a claim finds a file gone since, at the cost of a lease)."""
        if time.monotonic() - self._read_at < FRESH:
            return True
        return fsio.exists(self.path_of(name))

    def _seen_in_pass(self, name: str) -> None:
        # A name handed out by a pass under way was listed by it. (Once a pass has
        # ended, the next one reads the name again if it is still there.)
        if self._stream is not None:
            self._listed.add(name)

    def next_due(self) -> float | None:
        """Seconds until the earliest deferred name may be tried again (None: none is)."""
        if not self._deferred:
            return None
        return max(0.0, min(self._deferred.values()) - time.monotonic())

    def names(self) -> Iterator[str]:
        """Yield names until the current pass and one whole new pass are used up.

        Deferred names whose time has come are yielded first, earliest first: a
        retry's delay is honoured under a backlog (not only once a pass reaches
        its name again). Then a caller that gets to the end has seen every name
        present when it started (and still present), but for deferred ones.
        Names not consumed stay for the next call.
        """
        early = self._due_now() if self._deferred else []
        yield from early
        skip = frozenset(early)  # (yielded once per call, not again when the pass lists them)
        yield from self._drain(skip)
        # A pass already under way may have gone past names made since it began:
        # finish it, then make one whole pass more.
        target = self._passes + (1 if self._stream is None else 2)
        while self._passes < target:
            if self._read_chunk():
                yield from self._drain(skip)

    def _due_now(self) -> list[str]:
        """The deferred names whose time has come, earliest first (no longer deferred)."""
        now = time.monotonic()
        due = [name for until, name in sorted((t, n) for n, t in self._deferred.items() if t <= now)]
        for name in due:
            del self._deferred[name]
            self._deferred_inode.pop(name, None)
        return due

    def _drain(self, skip: frozenset[str]) -> Iterator[str]:
        names, deferred = self._names, self._deferred
        now = time.monotonic()
        while names:
            name = names.popleft()
            if skip and name in skip:
                continue
            if deferred:
                until = deferred.get(name)
                if until is not None:
                    if until > now:
                        continue
                    del deferred[name]
                    self._deferred_inode.pop(name, None)
            yield name

    def _read_chunk(self) -> bool:
        """Read the next chunk of the folder into the queue; False if it held no
        name. At the end of the folder the pass ends (the next call starts one)."""
        stream = self._stream
        if stream is None:
            buckets = self._buckets
            stream = self._stream = (folders.scan_inodes(self._folder, self._suffix) if buckets is None else
                                     scan_buckets(self._folder, buckets.names(), self._suffix))
        found: list[str] = []
        inodes = self._deferred_inode
        ended = True
        for name, inode in stream:
            found.append(name)
            if name in inodes and self._rewritten(name, inode, inodes[name]):
                self._deferred.pop(name, None)
                del inodes[name]
            if len(found) >= CHUNK:
                ended = False
                break
        deferred, notes = self._deferred, self._notes
        if deferred or notes:
            self._listed.update(name for name in found if name in deferred or name in notes)
        if ended:
            self._end_pass()
        if not found:
            return False
        self._read_at = time.monotonic()
        found.sort()
        if len(found) == 1:  # (a folder of one job, a pull at a time: nothing to shuffle)
            self._names.extend(found)
            return True
        for start in range(0, len(found), _BLOCK):
            block = found[start : start + _BLOCK]
            random.shuffle(block)
            self._names.extend(block)
        return True

    def _rewritten(self, name: str, inode: int, deferred: tuple[int, int]) -> bool:
        """Whether *name*'s file changed since it was deferred: another inode in the
        listing, or (one lstat, only then) the same number with another change time."""
        return inode != deferred[0] or fsio.identity(self.path_of(name)) != deferred

    @property
    def queued(self) -> int:
        """Names read from the folder and not yet handed out."""
        return len(self._names)

    @property
    def remembered(self) -> int:
        """Names deferred or noted that the pass under way has listed (kept for the next)."""
        return len(self._listed)

    def close(self) -> None:
        """Close the directory stream of a pass under way (its descriptor)."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def _end_pass(self) -> None:
        self.close()
        self._passes += 1
        # Forget what was learnt of names no longer in the folder.
        listed, self._listed = self._listed, set()
        if self._deferred or self._notes:
            self._deferred = {name: t for name, t in self._deferred.items() if name in listed}
            self._deferred_inode = {n: i for n, i in self._deferred_inode.items() if n in self._deferred}
            self._notes = {name: v for name, v in self._notes.items() if name in listed}
