"""The bucket of resolved records a store object last published into, kept open
between resolutions (one open per bucket, not one per resolution: a bucket holds
some 17 minutes of jobs) and shared by the store object's threads.

A bucket replaced while another thread still links through its descriptor is
closed by the last thread done with it, never under it: a descriptor closed
early is a number the process reuses, and a link through it would fail
(ENOTDIR) or land in another folder."""

from __future__ import annotations

import threading
from collections.abc import Callable

from .._files.folders import Folder


class Held:
    """One open bucket and how many threads are publishing through it."""

    __slots__ = ("name", "folder", "users", "retired")

    def __init__(self, name: str, folder: Folder) -> None:
        self.name, self.folder, self.users, self.retired = name, folder, 0, False


class OpenBucket:
    """``take`` the bucket's folder (opened by *open_bucket* if it is not the one held),
    publish through it, ``give_back``."""

    def __init__(self, open_bucket: Callable[[str], Folder]) -> None:
        self._open = open_bucket
        self._lock = threading.Lock()
        self._current: Held | None = None

    def take(self, bucket: str, *, again: bool = False) -> Held:
        """The held bucket (*again*: opened anew, the old one gone: a purge removed it)."""
        with self._lock:
            held = self._current
            if again or held is None or held.name != bucket:
                held = Held(bucket, self._open(bucket))
                self._retire(self._current)
                self._current = held
            held.users += 1
            return held

    def give_back(self, held: Held) -> None:
        with self._lock:
            held.users -= 1
            if held.retired and not held.users:
                held.folder.close()

    def close(self) -> None:
        with self._lock:
            self._retire(self._current)
            self._current = None

    def forget(self) -> None:
        """In a forked child: a thread of the parent may have held the lock at the fork."""
        self._lock = threading.Lock()

    @staticmethod
    def _retire(held: Held | None) -> None:
        if held is not None:
            held.retired = True
            if not held.users:
                held.folder.close()
