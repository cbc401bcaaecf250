"""Running one handler call, bounded in time: in a thread of this process, or in a
child process that can be killed.

A Python thread cannot be killed. So with ``isolation="thread"`` a handler that
outlives its timeout is abandoned, not stopped: the attempt fails at once (the job
is retried or failed as for any error), the thread runs on until the handler
returns, and what it returns is thrown away. A handler that must be stopped for
real runs with ``isolation="process"``: in a forked child that leads a process
group of its own, so that what it starts ends with it. The whole group is stopped
(SIGTERM, then SIGKILL after ``KILL_GRACE`` seconds) when the handler's time is
up, when its lease is lost or when the worker is aborting; and, through the
worker's reaper process (reaper.py), when the worker dies, SIGKILL included.
A handler that returns may leave processes running, as a command may.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from ..errors import AttemptFailed
from ..job import Job
from .base import Stopped, StopRequest
from .groups import stop_groups
from .reaper import Reaper

#: Seconds between SIGTERM and SIGKILL for a child whose time is up.
KILL_GRACE = 5.0
# Seconds a child that sent its result gets to exit before its group is stopped.
_EXIT_GRACE = 1.0

ISOLATIONS = ("thread", "process")


class HandlerTimeout(Exception):
    """The handler did not return within its timeout."""


class HandlerCrashed(Exception):
    """The child process running the handler died without a result."""


class HandlerFailed(Exception):
    """A handler in a child process raised: its exception, as text, and its traceback."""

    def __init__(self, kind: str, message: str, trace: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.trace = trace


def run_handler(handler: Callable[[Job], Any], job: Job, *, timeout: float | None, isolation: str,
                stop_requested: Callable[[], StopRequest | None], reaper: Reaper | None = None) -> Any:
    """What ``handler(job)`` returns, or what it raised; HandlerTimeout after *timeout*
    seconds. With ``isolation="process"`` (which needs the worker's *reaper*), a
    child whose *stop_requested* says so is stopped at once and Stopped raised."""
    if isolation == "process":
        assert reaper is not None
        return _in_child(handler, job, timeout, stop_requested, reaper)
    if timeout is None:
        return handler(job)
    return _in_thread(handler, job, timeout)


def _in_thread(handler: Callable[[Job], Any], job: Job, timeout: float) -> Any:
    outcome: list[tuple[bool, Any]] = []

    def call() -> None:
        try:
            outcome.append((True, handler(job)))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            outcome.append((False, exc))

    thread = threading.Thread(target=call, name=f"handler-{job.id}", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise HandlerTimeout(f"handler timed out after {timeout:g} s (its thread is abandoned, not stopped)")
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


def _child_main(handler: Callable[[Job], Any], job: Job, out: Connection, reaper: Reaper) -> None:
    os.setpgid(0, 0)  # (the parent does too: whichever runs first)
    reaper.in_child()
    # The worker's own handlers, inherited, would only note a signal for a main
    # loop this process does not run: SIGTERM must end the handler.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        out.send((True, handler(job)))
    except BaseException as exc:  # noqa: BLE001 - the parent records it
        out.send((False, (type(exc).__name__, str(exc), traceback.format_exc())))
    finally:
        out.close()


def _in_child(handler: Callable[[Job], Any], job: Job, timeout: float | None,
              stop_requested: Callable[[], StopRequest | None], reaper: Reaper) -> Any:
    context = multiprocessing.get_context("fork")  # the handler may be any callable, a closure too
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child_main, args=(handler, job, send, reaper), name=f"handler-{job.id}",
                            daemon=True)

    def fork() -> int:
        child.start()
        assert child.pid is not None
        try:
            os.setpgid(child.pid, child.pid)
        except (ProcessLookupError, PermissionError):
            pass  # (it has set its group itself, or already ended)
        return child.pid

    pgid = reaper.spawn(fork)
    send.close()
    received = False
    grace = KILL_GRACE
    try:
        result = _await_child(child, receive, timeout, stop_requested)
        received = True
    except Stopped:
        request = stop_requested()
        if request is not None and request.at_once:
            grace = 0.0
        raise
    finally:
        receive.close()
        if received:
            child.join(_EXIT_GRACE)
        if not received or child.is_alive():
            stop_groups([pgid], grace)
        child.join()
        reaper.forget(pgid)
    ok, value = result
    if ok:
        return value
    raise HandlerFailed(*value)


def _await_child(child: Any, receive: Connection, timeout: float | None,
                 stop_requested: Callable[[], StopRequest | None]) -> tuple[bool, Any]:
    deadline = None if timeout is None else time.monotonic() + timeout
    while not receive.poll(0.1):
        request = stop_requested()
        if request is not None:
            raise Stopped(f"handler stopped: {request.reason}")
        if deadline is not None and time.monotonic() >= deadline:
            raise HandlerTimeout(f"handler timed out after {timeout:g} s; its process was killed")
        if not child.is_alive() and not receive.poll(0):
            raise HandlerCrashed(f"the handler's process died (exit code {child.exitcode})")
    try:
        result: tuple[bool, Any] = receive.recv()
    except EOFError:
        child.join(1.0)
        raise HandlerCrashed(f"the handler's process died (exit code {child.exitcode})") from None
    return result


# What a failure keeps of an error or a traceback: enough to tell, bounded (a
# record's size stays bounded too).
MAX_ERROR_CHARS = 8192


def error_text(exc: BaseException) -> str:
    """The error recorded for a failed attempt or delivery: the message of
    AttemptFailed, else ``Type: message``; cut to MAX_ERROR_CHARS."""
    if isinstance(exc, AttemptFailed):
        text = str(exc)
    elif isinstance(exc, HandlerFailed):
        text = f"{exc.kind}: {exc}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 15] + " ... (cut)"
