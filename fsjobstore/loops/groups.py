"""Process groups: signal one, tell whether one still runs, stop some (SIGTERM,
then SIGKILL after a grace period). Run as a script, this is the reaper's program
(see reaper.py): it reads the groups to watch from stdin, and at its end of file
stops those still registered.

The standard library's smallest part only: the reaper runs this file as
``python -I -S groups.py GRACE WORKER_PID``, which starts without importing the
package (or even ``site``), in about 60 ms and 9 MiB.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterable

AFTER_KILL = 5.0  # SIGKILL cannot be refused: only an unkillable (D-state) process takes longer
READY = b"ready\n"  # what the reaper writes on its stdout once the signals it ignores cannot end it
_SLICE = 0.05  # how often the reaper looks whether the groups it signalled are gone


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


def _running_after(groups: Iterable[int], seconds: float) -> list[int]:
    """Wait up to *seconds* for *groups* to end; those still running then."""
    deadline = time.monotonic() + seconds
    running = [pgid for pgid in groups if group_alive(pgid)]
    while running and time.monotonic() < deadline:
        time.sleep(_SLICE)
        running = [pgid for pgid in running if group_alive(pgid)]
    return running


def stop_groups(groups: Iterable[int], grace: float) -> None:
    """SIGTERM to every group, SIGKILL to those still running *grace* seconds
    later; return once none runs (or AFTER_KILL after the SIGKILL)."""
    signalled = [pgid for pgid in groups if signal_group(pgid, signal.SIGTERM)]
    left = _running_after(signalled, grace)
    for pgid in left:
        signal_group(pgid, signal.SIGKILL)
    _running_after(left, AFTER_KILL)


# -- the reaper's program ----------------------------------------------------------------------


def _registered(fd: int) -> set[int]:
    """Read the worker's registrations (``+PGID``, ``-PGID`` lines) until end of
    file: the groups left registered."""
    groups: set[int] = set()
    pending = b""
    while chunk := os.read(fd, 4096):
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            if line[1:].isdigit() and line[:1] in (b"+", b"-"):
                (groups.add if line[:1] == b"+" else groups.discard)(int(line[1:]))
    return groups


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
    try:
        os.write(1, READY)
    except OSError:  # (the worker died while it started: the end of stdin follows)
        pass
    os.close(1)
    groups = sorted(_registered(0))
    if groups:
        _say(f"worker {worker} ended with commands running: stopping their process groups "
             f"{', '.join(map(str, groups))}")
        stop_groups(groups, grace)


if __name__ == "__main__":
    main(sys.argv)
