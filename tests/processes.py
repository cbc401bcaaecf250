"""Watching real processes: whether one runs, its children, waiting until some are gone."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from loophelpers import wait_for

from fsjobstore.loops import groups


def runs(pid: int) -> bool:
    """Whether process *pid* runs (a zombie does not: here PID 1 may never reap an orphan)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(b")") + 2:].split()[0] != b"Z"


def assert_gone(*pids: int, within: float = 10.0) -> None:
    wait_for(lambda: not any(runs(pid) for pid in pids), timeout=within,
             what=f"processes {pids} to be gone")


def kill_leftovers(*pids: int) -> None:
    """Tidy up after a failed test: the processes a command left running."""
    for pid in pids:
        if runs(pid):
            os.kill(pid, signal.SIGKILL)


def children(pid: int) -> list[int]:
    """The processes whose parent is *pid*, zombies included."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_bytes()
        except OSError:
            continue
        if int(stat[stat.rindex(b")") + 2:].split()[1]) == pid:
            found.append(int(name))
    return found


def _ignores_sigterm(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    ignored = next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:"))
    return bool(int(ignored, 16) & 1 << (signal.SIGTERM - 1))


def reaper_of(worker: int) -> int:
    """The pid of the reaper process a worker started (see fsjobstore/loops/reaper.py),
    once it is ready (it ignores SIGTERM: the worker's start has waited for that)."""
    program = os.path.abspath(groups.__file__).encode()

    def find() -> int | None:
        for pid in children(worker):
            try:
                if (program in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") and runs(pid)
                        and _ignores_sigterm(pid)):
                    return pid
            except OSError:
                continue
        return None

    return int(wait_for(find, timeout=20, what=f"the reaper of worker {worker}"))
