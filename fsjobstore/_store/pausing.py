"""Pauses: one file per pause in ``paused/``, which every puller consults.

Consulting them must cost a pull next to nothing, whatever the store holds: one
``lstat`` of the folder. Its listing (a file or two) is read again only when the
folder changed (another inode, modification or change time) or when the last
reading is ``PAUSE_SEEN_WITHIN`` old by this process's clock, so a change whose
time stamp equals the last one's (a coarse clock) is seen within that bound too.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time

from .._files import folders, fsio
from .._files.layout import PAUSED, RECORD_SUFFIX, Layout
from .._files.records import encode_json, now_text, value_key
from ..errors import CorruptJobFile
from ..interface import PAUSE_SEEN_WITHIN, Pause, stopping

log = logging.getLogger("fsjobstore")
STORE_ENTRY = "store" + RECORD_SUFFIX
TASK_PREFIX = "task-"
_HOST = socket.gethostname()
# The longest reason kept with a pause (it is shown in every paused worker's log).
MAX_REASON_CHARS = 1000


class PullPaused(Exception):
    """Raised by a claim that found, after linking its lease, that a pause stops
    every job this pull could take: the lease is given back and the pull ends."""


class Pauses:
    """The pauses of one store, as one store object reads and writes them."""

    def __init__(self, layout: Layout, *, durable: bool) -> None:
        self._layout = layout
        self._durable = durable
        self._lock = threading.Lock()
        # (inode, mtime, ctime) of paused/ when it was last listed; None: absent
        self._seen: tuple[int, int, int] | None = None
        self._read_at = -PAUSE_SEEN_WITHIN  # monotonic
        self._current: tuple[Pause, ...] = ()

    def current(self) -> tuple[Pause, ...]:
        """The pauses in force: one lstat, and a listing only if the folder changed."""
        try:
            info = fsio.lstat(self._layout.top.join(PAUSED))
            seen: tuple[int, int, int] | None = (info.st_ino, info.st_mtime_ns, info.st_ctime_ns)
        except FileNotFoundError:
            seen = None
        with self._lock:
            if seen == self._seen and time.monotonic() - self._read_at < PAUSE_SEEN_WITHIN:
                return self._current
            self._current = () if seen is None else tuple(sorted(self._read(), key=_order))
            self._seen, self._read_at = seen, time.monotonic()
            return self._current

    def pause(self, task: str | None, reason: str | None) -> Pause:
        if task is not None and (not isinstance(task, str) or not task):
            raise TypeError(f"task must be a non-empty string (or None: the whole store), not {task!r}")
        if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS):
            raise ValueError(f"reason must be a string of at most {MAX_REASON_CHARS} characters, not {reason!r:.60}")
        pause = Pause(task=task, reason=reason, paused_at=now_text(), host=_HOST, pid=os.getpid())
        data = encode_json({"task": task, "reason": reason, "paused_at": pause.paused_at, "host": pause.host,
                            "pid": pause.pid}, "pause")
        folder = self._layout.paused_folder()
        if folders.make_folder(folder.path, shared=self._layout.shared) and self._durable:
            self._layout.top.sync()
        # (replace: pausing again only updates who and why)
        fsio.publish(self._layout.tmp, folder, _entry(task), (data + "\n").encode(), durable=self._durable,
                     replace=True)
        self._forget()
        return pause

    def resume(self, task: str | None) -> bool:
        if task is not None and (not isinstance(task, str) or not task):
            raise TypeError(f"task must be a non-empty string (or None: the whole store), not {task!r}")
        folder = self._layout.paused_folder()
        removed = fsio.remove(folder.join(_entry(task)))
        if removed and self._durable:
            folder.sync()
        self._forget()
        return removed

    def _forget(self) -> None:
        """This store object's own change is seen by its next pull, whatever the clock."""
        with self._lock:
            self._seen, self._read_at = None, -PAUSE_SEEN_WITHIN

    def _read(self) -> list[Pause]:
        folder = self._layout.paused_folder()
        found = []
        try:
            names = list(folders.scan(folder, RECORD_SUFFIX))
        except CorruptJobFile as exc:  # a symlink planted as the folder: never followed
            log.error("ignoring %s", exc)
            return []
        for name in names:
            entry = name + RECORD_SUFFIX
            try:
                fields = json.loads(fsio.read(folder.join(entry)))
                pause = Pause(task=fields["task"], reason=fields.get("reason"), paused_at=fields.get("paused_at"),
                              host=fields.get("host"), pid=fields.get("pid"))
                if entry != _entry(pause.task):
                    raise ValueError(f"names task {pause.task!r}")
            except FileNotFoundError:
                continue  # resumed since the listing
            except (CorruptJobFile, ValueError, RecursionError, KeyError, TypeError, AttributeError):
                if entry != STORE_ENTRY:
                    continue  # (a planted or torn file: names no task it could stop)
                # The name is what pauses the whole store; what it says only tells why.
                pause = Pause(reason="its pause file does not parse")
            found.append(pause)
        return found


def stops_all(pauses: tuple[Pause, ...], tasks: frozenset[str | None] | None) -> bool:
    """Whether *pauses* stop every job of *tasks* (None: of any task)."""
    if not pauses:
        return False
    if stopping(pauses, None) is not None:
        return True
    return tasks is not None and all(stopping(pauses, task) is not None for task in tasks)


def _entry(task: str | None) -> str:
    return STORE_ENTRY if task is None else TASK_PREFIX + value_key(task) + RECORD_SUFFIX


def _order(pause: Pause) -> tuple[bool, str]:
    return pause.task is not None, pause.task or ""
