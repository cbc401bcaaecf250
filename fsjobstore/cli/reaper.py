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

The reaper's own side uses the standard library only: it runs as a script
(``python -I -S reaper.py GRACE``), which starts in milliseconds without
importing the package.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable

log = logging.getLogger("fsjobstore")

_SLICE = 0.05  # how often the reaper looks whether the groups it signalled are gone
AFTER_KILL = 5.0  # SIGKILL cannot be refused: only an unkillable (D-state) process takes longer
READY = b"ready\n"  # what the reaper writes on its stdout once it runs


def signal_group(pgid: int, sig: int) -> bool:
    """Send *sig* to process group *pgid*; False if no process of it exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def group_alive(pgid: int) -> bool:
    """Whether a process of group *pgid* still runs. Zombies do not count: where
    PID 1 does not reap orphans (some containers), a killed grandchild stays one."""
    try:
        pids = [name for name in os.listdir("/proc") if name.isdigit()]
    except FileNotFoundError:  # no /proc: ask the kernel, zombies included
        return signal_group(pgid, 0)
    return any(_runs_in_group(pid, pgid) for pid in pids)


def _runs_in_group(pid: str, pgid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses
    state, _ppid, pgrp = stat[stat.rindex(b")") + 2:].split()[:3]
    return state != b"Z" and int(pgrp) == pgid


# -- the worker's side -------------------------------------------------------------------------


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
                [sys.executable, "-I", "-S", os.path.abspath(__file__), repr(self.grace), str(os.getpid())],
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


# -- the reaper's side -------------------------------------------------------------------------


def _registered(fd: int) -> set[int]:
    """Read the worker's registrations until end of file: the groups left registered."""
    groups: set[int] = set()
    pending = b""
    while chunk := os.read(fd, 4096):
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            if line[1:].isdigit() and line[:1] in (b"+", b"-"):
                (groups.add if line[:1] == b"+" else groups.discard)(int(line[1:]))
    return groups


def _gone_within(groups: Iterable[int], seconds: float) -> list[int]:
    """Wait up to *seconds* for *groups* to end; those still running then."""
    deadline = time.monotonic() + seconds
    running = [pgid for pgid in groups if group_alive(pgid)]
    while running and time.monotonic() < deadline:
        time.sleep(_SLICE)
        running = [pgid for pgid in running if group_alive(pgid)]
    return running


def _stop_groups(groups: Iterable[int], grace: float) -> None:
    """SIGTERM to every group, SIGKILL to those still running *grace* seconds
    later; return once none runs (or AFTER_KILL later)."""
    signalled = [pgid for pgid in groups if signal_group(pgid, signal.SIGTERM)]
    left = _gone_within(signalled, grace)
    for pgid in left:
        signal_group(pgid, signal.SIGKILL)
    _gone_within(left, AFTER_KILL)


def _say(message: str) -> None:
    try:
        os.write(2, f"fsjobstore reaper: {message}\n".encode())
    except OSError:  # (nobody reads the worker's stderr any more: say nothing)
        pass


def main(argv: list[str]) -> None:
    grace, worker = float(argv[1]), argv[2]
    # Only the end of the pipe ends it: not the signals meant for the worker.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_IGN)
    os.write(1, READY)
    os.close(1)
    groups = sorted(_registered(0))
    if groups:
        _say(f"worker {worker} ended with commands running: stopping their process groups "
             f"{', '.join(map(str, groups))}")
        _stop_groups(groups, grace)


if __name__ == "__main__":
    main(sys.argv)
