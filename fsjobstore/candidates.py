"""The names a puller tries next, from one listing of an index folder.

Listing a folder costs time in proportion to its size, so a puller lists it once
and hands the names out one by one, listing again only when they are used up.
That keeps the cost of a pull flat as the backlog grows (amortised over the
backlog). Names are tried oldest first (ids sort by creation time), shuffled in
small blocks so that several pullers do not all try the same name at once.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterator

from . import fsio
from .fsio import Folder

_BLOCK = 16


class Candidates:
    def __init__(self, folder: Folder, suffix: str) -> None:
        self._folder = folder
        self._suffix = suffix
        self._names: deque[str] = deque()

    def names(self) -> Iterator[str]:
        """Yield the names left from the last listing, then those of one fresh listing.

        So a caller that gets to the end has seen every name present when it
        started (and still present). Names not consumed stay for the next call.
        """
        names = self._names
        while names:
            yield names.popleft()
        self._refill()
        while names:
            yield names.popleft()

    def _refill(self) -> None:
        found = sorted(fsio.scan(self._folder, self._suffix))
        for start in range(0, len(found), _BLOCK):
            block = found[start : start + _BLOCK]
            random.shuffle(block)
            self._names.extend(block)

    def forget(self) -> None:
        self._names.clear()
