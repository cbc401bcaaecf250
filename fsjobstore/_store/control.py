"""Control folders: a few small files (``paused/``, ``limits/``) that every puller
consults, made by operators from any host.

Consulting one must cost a pull next to nothing, whatever the store holds: one
``lstat`` of the folder. Its files are read again only when the folder changed
(another inode, modification or change time) or when the last reading is
``PAUSE_SEEN_WITHIN`` old by this process's clock, so a change whose time stamps
equal the last one's (a coarse clock) is seen within that bound too.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .._files import folders, fsio
from .._files.layout import RECORD_SUFFIX, Layout
from .._files.values import encode_json
from ..errors import CorruptJobFile
from ..interface import PAUSE_SEEN_WITHIN

log = logging.getLogger("fsjobstore")
T = TypeVar("T")
# parse(file name, its JSON object, or None if it does not parse) -> the entry, or None (ignored)
Parse = Callable[[str, dict[str, Any] | None], T | None]


class ControlFolder(Generic[T]):
    def __init__(self, layout: Layout, name: str, parse: Parse[T], order: Callable[[T], Any], *,
                 durable: bool) -> None:
        self._layout = layout
        self._name = name
        self._path = layout.top.join(name)  # (reached through the store folder's descriptor)
        self._parse = parse
        self._order = order  # (entries are kept sorted by this)
        self._durable = durable
        self._lock = threading.Lock()
        # What was looked at when the folder was last read: its (inode, mtime, ctime),
        # or, absent, the store folder's (which changes when it is made).
        self._seen: tuple[object, ...] = ()
        self._read_at = -PAUSE_SEEN_WITHIN  # monotonic
        self._current: tuple[T, ...] = ()

    def current(self) -> tuple[T, ...]:
        """The entries in force: one stat, and the files read only if the folder changed."""
        last = self._seen
        if (last and last[0] == "absent" and self._layout.top.status() == last[1]
                and time.monotonic() - self._read_at < PAUSE_SEEN_WITHIN):
            return self._current  # (the common case, asked twice a pull: no folder, the store's unchanged)
        seen = self._look()
        if seen == self._seen and time.monotonic() - self._read_at < PAUSE_SEEN_WITHIN:
            return self._current
        with self._lock:
            self._current = () if seen[0] == "absent" else tuple(sorted(self._read(), key=self._order))
            self._seen, self._read_at = seen, time.monotonic()
            return self._current

    def _look(self) -> tuple[object, ...]:
        # An absent folder (the common case) is looked for again only once the store
        # folder changed (an fstat of its descriptor, where a failed lstat costs an
        # exception: see current) or the last look is PAUSE_SEEN_WITHIN old (a coarse clock).
        top = self._layout.top.status() if self._seen and self._seen[0] == "absent" else None
        try:
            info = fsio.lstat(self._path)
        except FileNotFoundError:
            return "absent", top if top is not None else self._layout.top.status()
        return info.st_ino, info.st_mtime_ns, info.st_ctime_ns

    def publish(self, entry: str, fields: dict[str, Any]) -> None:
        """Make (or replace) the file *entry* holding *fields*."""
        folder = self._layout.control_folder(self._name)
        if folders.make_folder(folder.path, shared=self._layout.shared) and self._durable:
            self._layout.top.sync()
        data = (encode_json(fields, self._name) + "\n").encode()
        fsio.publish(self._layout.tmp, folder, entry, data, durable=self._durable, replace=True)
        self._forget()

    def remove(self, entry: str) -> bool:
        """Remove the file *entry*; False if there was none."""
        folder = self._layout.control_folder(self._name)
        removed = fsio.remove(folder.join(entry))
        if removed and self._durable:
            folder.sync()
        self._forget()
        return removed

    def _forget(self) -> None:
        """This store object's own change is seen by its next pull, whatever the clock."""
        with self._lock:
            self._seen, self._read_at = (), -PAUSE_SEEN_WITHIN

    def _read(self) -> list[T]:
        folder = self._layout.control_folder(self._name)
        try:
            names = sorted(folders.scan(folder, RECORD_SUFFIX))
        except CorruptJobFile as exc:  # a symlink planted as the folder: never followed
            log.error("ignoring %s", exc)
            return []
        found = []
        for name in names:
            entry = name + RECORD_SUFFIX
            try:
                fields = json.loads(fsio.read(folder.join(entry)))
                if not isinstance(fields, dict):
                    raise ValueError("not an object")
            except FileNotFoundError:
                continue  # removed since the listing
            except (CorruptJobFile, ValueError, RecursionError):
                fields = None
            parsed = self._parse(entry, fields)
            if parsed is not None:
                found.append(parsed)
        return found
