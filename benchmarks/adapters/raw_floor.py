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
