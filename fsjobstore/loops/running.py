"""Running one handler call, bounded in time: in a thread of this process, or in a
child process that can be killed.

A Python thread cannot be killed. So with ``isolation="thread"`` a handler that
outlives its timeout is abandoned, not stopped: the attempt fails at once (the job
is retried or failed as for any error), the thread runs on until the handler
returns, and what it returns is thrown away. A handler that must be stopped for
real runs with ``isolation="process"``: in a forked child, killed (SIGTERM, then
SIGKILL after ``KILL_GRACE`` seconds) when its time is up or when its lease is lost.
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

#: Seconds between SIGTERM and SIGKILL for a child whose time is up.
KILL_GRACE = 5.0

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
                cancelled: threading.Event) -> Any:
    """What ``handler(job)`` returns, or what it raised; HandlerTimeout after *timeout*
    seconds. *cancelled* set (the lease was lost) stops a child process at once."""
    if isolation == "process":
        return _in_child(handler, job, timeout, cancelled)
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


def _child_main(handler: Callable[[Job], Any], job: Job, out: Connection) -> None:
    try:
        out.send((True, handler(job)))
    except BaseException as exc:  # noqa: BLE001 - the parent records it
        out.send((False, (type(exc).__name__, str(exc), traceback.format_exc())))
    finally:
        out.close()


def _in_child(handler: Callable[[Job], Any], job: Job, timeout: float | None, cancelled: threading.Event) -> Any:
    context = multiprocessing.get_context("fork")  # the handler may be any callable, a closure too
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child_main, args=(handler, job, send), name=f"handler-{job.id}", daemon=True)
    child.start()
    send.close()
    try:
        result = _await_child(child, receive, timeout, cancelled)
    finally:
        receive.close()
        _stop(child)
    ok, value = result
    if ok:
        return value
    raise HandlerFailed(*value)


def _await_child(child: Any, receive: Connection, timeout: float | None, cancelled: threading.Event
                 ) -> tuple[bool, Any]:
    deadline = None if timeout is None else time.monotonic() + timeout
    while not receive.poll(0.1):
        if cancelled.is_set():
            raise HandlerCrashed("stopped: the job's lease was lost")
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


def _stop(child: Any) -> None:
    """TERM, then KILL after the grace period; always reaped."""
    if child.is_alive():
        try:
            os.kill(child.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        child.join(KILL_GRACE)
        if child.is_alive():
            child.kill()
    child.join()


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
