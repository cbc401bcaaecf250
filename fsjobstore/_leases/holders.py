"""Holder records: one file per holder, to which each of its leases is a hard link."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Mapping
from types import MappingProxyType

from .._files import folders, fsio
from .._files.folders import Folder
from .._files.times import now_text
from ..errors import CorruptJobFile
from . import clock
from .fork import forget_in_child

_HOST_JSON = json.dumps(socket.gethostname())


class HolderRecord:
    """One holder's record file; every lease it holds is a hard link to it."""

    def __init__(self, folder: Folder, seconds: float) -> None:
        self.seconds = seconds
        self.token = os.urandom(16).hex()
        self.path = folder.join(self.token)
        self._beat = 0
        self._lock = threading.Lock()
        started = clock.now()
        self._fd = fsio.open_new(self.path, os.O_RDWR)
        try:
            fsio.share(self._fd, folder)
            fsio.overwrite(self._fd, self._record(), sync=False)
        except BaseException:
            self.close()
            raise
        self.renewed_at = started

    def _record(self) -> bytes:
        # Fixed width for a given holder, so rewriting in place never leaves a
        # longer tail. "seconds" tells contenders how long to wait before taking over.
        return (
            f'{{"token": "{self.token}", "host": {_HOST_JSON}, "pid": {os.getpid()}, '
            f'"seconds": {self.seconds!r:>12}, "beat": "{self._beat:012d}", "renewed_at": "{now_text()}"}}\n'
        ).encode()

    @property
    def stale(self) -> bool:
        """Its record is older than a renewal period (an idle holder's)."""
        return clock.now() - self.renewed_at >= self.seconds / 3

    def beat(self) -> str | None:
        """Advance the beat counter in place; the reason it failed, or None."""
        with self._lock:
            started = clock.now()
            self._beat += 1
            try:
                fsio.overwrite(self._fd, self._record(), sync=True)
            except OSError as exc:
                return f"renewal failed: {exc}"
            self.renewed_at = started
            return None

    def changed_at(self) -> float:
        """The change time of the record (filesystem's clock: on NFS the server's),
        which each beat and each link made to it set: a reading of "now" on that
        clock, as of the last of them."""
        return os.fstat(self._fd).st_ctime

    def owns(self, path: str) -> bool:
        """Whether the name *path* holds this holder's record."""
        try:
            return self.token.encode() in fsio.read(path)
        except (FileNotFoundError, CorruptJobFile):
            return False

    @property
    def fd(self) -> int:
        """The descriptor the record is rewritten through (-1 once closed)."""
        return self._fd

    def forget(self) -> None:
        """Close the descriptor, leaving the record file (a forked child's view)."""
        self.close(remove=False)
        self._lock = threading.Lock()

    def close(self, *, remove: bool = True) -> None:
        fd, self._fd = self._fd, -1  # later writes fail (EBADF), never reach a reused number
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass
        if remove:
            fsio.remove(self.path)


class HolderPool:
    """The holder records of one store object, one per lease length, made on first use."""

    def __init__(self, folder: Folder) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._by_seconds: dict[float, HolderRecord] = {}
        self._retired: list[HolderRecord] = []
        forget_in_child(self)

    def get(self, seconds: float) -> HolderRecord:
        """The holder for leases of *seconds*, with a record fresh enough to link."""
        with self._lock:
            holder = self._by_seconds.get(seconds)
            if holder is None:
                if self.folder.fd is None:  # (a store's is made and anchored when it opens)
                    folders.make_folder(self.folder.path, shared=self.folder.shared)
                holder = self._by_seconds[seconds] = HolderRecord(self.folder, seconds)
        # (A holder whose record was removed is found when linking to it fails:
        # LeaseFolder replaces it then.)
        if holder.stale and holder.beat() is not None:
            return self.replace(holder)
        return holder

    def replace(self, holder: HolderRecord) -> HolderRecord:
        """A new holder instead of one whose record file is gone or cannot be written
        (purge removes an idle holder's file after an hour). The old one is kept
        open, not closed, while leases may still be linked to it: they keep
        renewing through it, and lose at their next renewal if that fails."""
        with self._lock:
            current = self._by_seconds.get(holder.seconds)
            if current is holder:
                self._retired.append(holder)
                current = self._by_seconds[holder.seconds] = HolderRecord(self.folder, holder.seconds)
            assert current is not None
            return current

    @property
    def current(self) -> Mapping[float, HolderRecord]:
        """The holder in use for each lease length (read-only)."""
        return MappingProxyType(self._by_seconds)

    def close(self) -> None:
        with self._lock:
            holders, self._by_seconds = [*self._by_seconds.values(), *self._retired], {}
            self._retired = []
        for holder in holders:
            holder.close()

    def forget(self) -> None:
        for holder in [*self._by_seconds.values(), *self._retired]:
            holder.forget()
        self._lock = threading.Lock()
        self._by_seconds = {}
        self._retired = []

