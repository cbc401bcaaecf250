"""The floor: what one durable file per job costs with nothing else.

put = temp file + fsync + rename into ``new/`` + fsync of ``new/``;
claim = rename ``new/x`` -> ``cur/x`` (the rename decides the winner);
done = unlink. ``new/`` is listed once and the listing used until exhausted.
"""
from __future__ import annotations

import itertools
import os
from pathlib import Path

from .base import Adapter, Claimed, Job, decode, encode


class RawFloor(Adapter):
    """Floor: put = temp + fsync + rename + dir fsync; claim = rename; done = unlink."""

    name = "raw-floor"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.tmp, self.new, self.cur = (path / d for d in ("tmp", "new", "cur"))
        for d in (self.tmp, self.new, self.cur):
            d.mkdir(parents=True, exist_ok=True)
        self._new_fd = os.open(self.new, os.O_RDONLY | os.O_DIRECTORY)
        self._ids = itertools.count()
        self._names: list[str] = []

    def put(self, job: Job) -> None:
        name = f"{os.getpid()}-{next(self._ids):09d}"
        tmp = self.tmp / name
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, encode(job).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, self.new / name)
        os.fsync(self._new_fd)

    def claim(self) -> Claimed | None:
        for rescanned in (False, True):
            if rescanned:
                self._names = os.listdir(self.new)
            while self._names:
                name = self._names.pop()
                try:
                    os.rename(self.new / name, self.cur / name)
                except FileNotFoundError:  # another worker won it
                    continue
                return Claimed(decode((self.cur / name).read_bytes()), name)
        return None

    def done(self, claimed: Claimed) -> None:
        os.unlink(self.cur / claimed.handle)

    def close(self) -> None:
        os.close(self._new_fd)


class RawFloorKept(Adapter):
    """Floor with fsjobstore's guarantees: put = temp + fsync + rename into ``pending/``
    + fsync; claim = link a holder file as the lease + read; done = result temp + fsync
    + link into ``resolved/`` (kept as history) + fsync, unlink pending and lease."""

    name = "raw-floor-kept"
    #: with False, no fsync (the instruction and system-call counts of the not-durable lifecycle)
    durable = True

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        folders = ("tmp", "pending", "resolved", "leases")
        self.tmp, self.pending, self.resolved, self.leases = (path / d for d in folders)
        for d in (self.tmp, self.pending, self.resolved, self.leases):
            d.mkdir(parents=True, exist_ok=True)
        self._fds = {d: os.open(path / d, os.O_RDONLY | os.O_DIRECTORY) for d in folders}
        self.holder = path / "holder"
        self.holder.write_text("holder\n")
        self._ids = itertools.count()
        self._pid = os.getpid()
        self._names: list[str] = []

    def _write(self, folder: str, name: str, data: bytes, *, replace: bool) -> None:
        tmp = f"{self._pid}-{next(self._ids):09d}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=self._fds["tmp"])
        try:
            os.write(fd, data)
            if self.durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.rename(tmp, name, src_dir_fd=self._fds["tmp"], dst_dir_fd=self._fds[folder])
        else:
            os.link(tmp, name, src_dir_fd=self._fds["tmp"], dst_dir_fd=self._fds[folder])
            os.unlink(tmp, dir_fd=self._fds["tmp"])
        if self.durable:
            os.fsync(self._fds[folder])

    def put(self, job: Job) -> None:
        self._write("pending", f"{self._pid}-{next(self._ids):09d}", encode(job).encode(), replace=True)

    def claim(self) -> Claimed | None:
        for rescanned in (False, True):
            if rescanned:
                self._names = os.listdir(self._fds["pending"])
            while self._names:
                name = self._names.pop()
                try:
                    os.link(self.holder, name, dst_dir_fd=self._fds["leases"])
                except FileExistsError:
                    continue
                try:
                    fd = os.open(name, os.O_RDONLY, dir_fd=self._fds["pending"])
                except FileNotFoundError:  # done by another worker since the listing
                    os.unlink(name, dir_fd=self._fds["leases"])
                    continue
                try:
                    return Claimed(decode(os.read(fd, 1 << 16)), name)
                finally:
                    os.close(fd)
        return None

    def done(self, claimed: Claimed) -> None:
        self._write("resolved", claimed.handle, b'{"state": "fulfilled", "value": "ok"}\n', replace=False)
        os.unlink(claimed.handle, dir_fd=self._fds["pending"])
        os.unlink(claimed.handle, dir_fd=self._fds["leases"])

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
