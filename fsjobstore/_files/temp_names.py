"""The names of temp files (``tmp/``): unique per process, and cheap to make."""

from __future__ import annotations

import itertools
import os


class TempNames:
    """Names for temp files: a random prefix per process and a counter, so that a
    write costs no call for randomness (a forked child takes a prefix of its own)."""

    def __init__(self) -> None:
        self.renew()
        os.register_at_fork(after_in_child=self.renew)

    def renew(self) -> None:
        self._prefix = os.urandom(8).hex() + "-"
        self._count = itertools.count()

    def next(self) -> str:
        return f"{self._prefix}{next(self._count):x}.tmp"


temp_names = TempNames()
