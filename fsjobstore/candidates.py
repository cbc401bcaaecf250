"""The names a puller tries next, from one listing of an index folder.

Listing a folder costs time in proportion to its size, so a puller lists it once
and hands the names out one by one, listing again only when they are used up.
That keeps the cost of a pull flat as the backlog grows (amortised over the
backlog). Names are tried oldest first (ids sort by creation time), shuffled in
small blocks so that several pullers do not all try the same name at once.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from . import fsio
from .fsio import Folder

_BLOCK = 16


class Candidates:
    def __init__(self, folder: Folder, suffix: str) -> None:
        self._folder = folder
        self._suffix = suffix
        self._names: deque[str] = deque()
        # name -> monotonic time before which it is not worth trying again
        self._deferred: dict[str, float] = {}
        # name -> inode of its file when deferred: a rewritten file (new inode,
        # e.g. a retry by another process) ends the deferral at the next listing
        self._deferred_inode: dict[str, int] = {}
        # name -> what a puller learnt of it (e.g. its task), kept while it is listed
        self._notes: dict[str, object] = {}

    def note(self, name: str, value: object) -> None:
        self._notes[name] = value

    def noted(self, name: str) -> Any:
        return self._notes.get(name)

    def defer(self, name: str, seconds: float, inode: int | None = None) -> None:
        """Skip *name* for *seconds* (it is not workable yet), or until its file
        is replaced if *inode* is given."""
        self._deferred[name] = time.monotonic() + seconds
        if inode is not None:
            self._deferred_inode[name] = inode

    def next_due(self) -> float | None:
        """Seconds until the earliest deferred name may be tried again (None: none is)."""
        if not self._deferred:
            return None
        return max(0.0, min(self._deferred.values()) - time.monotonic())

    def names(self) -> Iterator[str]:
        """Yield the names left from the last listing, then those of one fresh listing.

        So a caller that gets to the end has seen every name present when it
        started (and still present), but for deferred ones. Names not consumed
        stay for the next call.
        """
        yield from self._drain()
        self._refill()
        yield from self._drain()

    def _drain(self) -> Iterator[str]:
        names, deferred = self._names, self._deferred
        now = time.monotonic()
        while names:
            name = names.popleft()
            if deferred:
                until = deferred.get(name)
                if until is not None:
                    if until > now:
                        continue
                    del deferred[name]
                    self._deferred_inode.pop(name, None)
            yield name

    def _refill(self) -> None:
        inodes = dict(fsio.scan_inodes(self._folder, self._suffix))
        found = sorted(inodes)
        if self._deferred or self._notes:
            self._deferred = {
                name: t
                for name, t in self._deferred.items()
                if name in inodes and self._deferred_inode.get(name, inodes[name]) == inodes[name]
            }
            self._deferred_inode = {n: i for n, i in self._deferred_inode.items() if n in self._deferred}
            self._notes = {name: v for name, v in self._notes.items() if name in inodes}
        for start in range(0, len(found), _BLOCK):
            block = found[start : start + _BLOCK]
            random.shuffle(block)
            self._names.extend(block)
