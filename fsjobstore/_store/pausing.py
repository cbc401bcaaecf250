"""Pauses: one file per pause in the control folder ``paused/`` (see control), which
every puller consults before it takes a job and again once it has its lease."""

from __future__ import annotations

import os
import socket
from typing import Any

from .._arguments import check_name
from .._files.layout import RECORD_SUFFIX, Layout
from .._files.times import now_text
from .._files.values import value_key
from ..interface import Pause, stopping
from .control import ControlFolder

PAUSED = "paused"
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
        self._folder = ControlFolder(layout, PAUSED, _parse, _order, durable=durable)

    def current(self) -> tuple[Pause, ...]:
        """The pauses in force, the whole store's first (one lstat: see control)."""
        return self._folder.current()

    def pause(self, task: str | None, reason: str | None) -> Pause:
        check_name("task", task, "the whole store")
        if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS):
            raise ValueError(f"reason must be a string of at most {MAX_REASON_CHARS} characters, not {reason!r:.60}")
        pause = Pause(task=task, reason=reason, paused_at=now_text(), host=_HOST, pid=os.getpid())
        # (replace: pausing again only updates who and why)
        self._folder.publish(_entry(task), {"task": task, "reason": reason, "paused_at": pause.paused_at,
                                            "host": pause.host, "pid": pause.pid})
        return pause

    def resume(self, task: str | None) -> bool:
        check_name("task", task, "the whole store")
        return self._folder.remove(_entry(task))


def stops_all(pauses: tuple[Pause, ...], tasks: frozenset[str | None] | None) -> bool:
    """Whether *pauses* stop every job of *tasks* (None: of any task)."""
    if not pauses:
        return False
    if stopping(pauses, None) is not None:
        return True
    return tasks is not None and all(stopping(pauses, task) is not None for task in tasks)


def _entry(task: str | None) -> str:
    return STORE_ENTRY if task is None else TASK_PREFIX + value_key(task) + RECORD_SUFFIX


def _parse(entry: str, fields: dict[str, Any] | None) -> Pause | None:
    if fields is not None:
        task = fields.get("task")
        if (task is None or isinstance(task, str)) and entry == _entry(task):
            return Pause(task=task, reason=_text(fields.get("reason")), paused_at=_text(fields.get("paused_at")),
                         host=_text(fields.get("host")), pid=fields["pid"] if isinstance(fields.get("pid"), int)
                         else None)
    if entry == STORE_ENTRY:
        # The name is what pauses the whole store; what it says only tells why.
        return Pause(reason="its pause file does not parse")
    return None  # (a planted or torn file: names no task it could stop)


def _order(pause: Pause) -> tuple[bool, str]:
    return pause.task is not None, pause.task or ""


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
