"""The reaper: a small process beside a worker that stops the commands the worker
is running once the worker is gone, however it went (SIGKILL and the OOM killer
too), so that a job taken over after its lease expired never runs beside an
orphaned copy of itself.

The worker holds the only write end of a pipe whose read end is the reaper's
stdin, and writes a line per command: ``+PGID`` once the command's process group
is started, ``-PGID`` once its run is over. When the worker dies the kernel
closes the write end, whatever killed it: at end of file the reaper gives every
group still registered SIGTERM, SIGKILL after the grace period to what still
runs, and exits. A worker that stops normally has ended its commands and closes
the pipe itself, so its reaper finds nothing to kill; the worker waits for it.

Why not ``prctl(PR_SET_PDEATHSIG)``: it reaches only the direct child, not the
processes a command starts, and fires when the *thread* that forked the child
ends. A subreaper must be an ancestor of the worker, which a user kills by its
own pid; a cgroup needs privileges. A pipe's end of file needs none of that, on
any POSIX system; only the test of whether a group still runs reads Linux's
``/proc`` (elsewhere, zombies count as running).

A Python worker's handler children (``isolation="process"``) are forked, not
executed, so each inherits the write end of the pipe: a child that kept it would
hold the pipe open past the worker's death. ``spawn`` forks them while the pipe
cannot change, so that each child can close the end it got (``in_child``).

The reaper's program is groups.py, run as a script.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable

from . import groups
from .groups import READY

log = logging.getLogger("fsjobstore")


class Reaper:
    """The worker's end: ``start()`` the reaper process, ``watch(pgid)`` each
    command's group once started and ``forget(pgid)`` it once its run is over,
    ``close()`` at the end (which waits for the reaper to exit).

    A reaper found dead when a group is registered (killed by hand) is started
    again and told every group still registered, with a warning in the log.
    """

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self._groups: set[int] = set()
        self._lock = threading.Lock()  # (commands start and end in the loop's threads)
        self._process: subprocess.Popen[bytes] | None = None
        self._pipe: int | None = None

    @property
    def pid(self) -> int | None:
        """The reaper process's pid, while one runs."""
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        with self._lock:
            self._start()

    def watch(self, pgid: int) -> None:
        with self._lock:
            self._groups.add(pgid)
            self._tell(f"+{pgid}\n".encode())

    def spawn(self, fork: Callable[[], int]) -> int:
        """Call *fork*, which starts a child as the leader of a new process group and
        returns its pid, and watch that group; the pid. No pipe is made or replaced
        meanwhile, so the child's ``in_child`` closes every write end it inherited."""
        with self._lock:
            self._tell(b"")  # (a reaper is (re)started now, not between the fork and the watch)
            pgid = fork()
            self._groups.add(pgid)
            self._tell(f"+{pgid}\n".encode())
            return pgid

    def in_child(self) -> None:
        """In a child forked by ``spawn``: close the pipe's write end, which only the
        worker may hold (its lock stays as the fork left it: not taken here)."""
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None

    def forget(self, pgid: int) -> None:
        with self._lock:
            self._groups.discard(pgid)
            if self._process is not None and self._process.poll() is None:
                try:
                    self._write(f"-{pgid}\n".encode())
                except BrokenPipeError:
                    pass  # (the next reaper started is told only the groups still registered)

    def close(self) -> None:
        """Close the pipe and wait for the reaper to exit: at once if no group is
        registered, else once it has stopped them."""
        with self._lock:
            self._stop()

    def _start(self) -> None:
        read, write = os.pipe()  # (neither end is inherited by a command: close_fds)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-S", os.path.abspath(groups.__file__), repr(self.grace), str(os.getpid())],
                stdin=read, stdout=subprocess.PIPE, start_new_session=True,
                # (its own session: a Ctrl-C at the terminal, or a kill of the
                # worker's process group, must not take the reaper with it)
            )
        except BaseException:
            os.close(write)
            raise
        finally:
            os.close(read)
        self._pipe = write
        assert self._process.stdout is not None
        with self._process.stdout as ready:  # (once it says so, the signals it ignores cannot end it)
            if ready.readline() != READY:
                status = self._process.wait()
                self._stop()
                raise OSError(f"the reaper process ({sys.executable}) did not start: exit status {status}")
        if self._groups:
            self._write(b"".join(f"+{pgid}\n".encode() for pgid in sorted(self._groups)))

    def _tell(self, line: bytes) -> None:
        if self._process is not None and self._process.poll() is None:
            try:
                self._write(line)
                return
            except BrokenPipeError:
                pass  # (it died since the poll)
        if self._process is not None:
            log.warning("the reaper process %d is gone (status %s): starting another", self._process.pid,
                        self._process.poll())
        self._stop()
        self._start()

    def _write(self, data: bytes) -> None:
        assert self._pipe is not None
        while data:  # (a registration is shorter than PIPE_BUF: one write, unless interrupted)
            data = data[os.write(self._pipe, data):]

    def _stop(self) -> None:
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
        if self._process is not None:
            # (what a normal stop leaves registered is a command that would not die:
            # the reaper takes the grace period and AFTER_KILL on it, no longer)
            self._process.wait()
            self._process = None
