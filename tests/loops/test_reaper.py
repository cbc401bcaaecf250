"""The reaper process on its own (fsjobstore/loops/reaper.py): it stops the process
groups registered with it, and only those, once the pipe from its worker closes.
Real processes: a reaper started from this test process, and process groups of
`sh` and `sleep`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from loophelpers import wait_for
from processes import assert_gone, kill_leftovers, runs

from fsjobstore.loops.reaper import Reaper

# A process group whose leader notes SIGTERM and goes on: only SIGKILL ends it.
STUBBORN = "trap 'echo TERM >> \"$0\"' TERM; sleep 300 & while :; do sleep 0.05; done"


@pytest.fixture
def groups() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    kill_leftovers(*(proc.pid for proc in started))
    for proc in started:
        proc.wait()


def _group(groups: list[subprocess.Popen[bytes]], script: str, *args: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(["sh", "-c", script, *args], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    groups.append(proc)
    return proc


def _members(pgid: int) -> list[int]:
    """The processes of group *pgid* (zombies included, as the kernel counts them)."""
    found = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{name}/stat").read_bytes()
        except OSError:
            continue
        if int(stat[stat.rindex(b")") + 2:].split()[2]) == pgid:
            found.append(int(name))
    return found


def test_a_group_forgotten_is_not_stopped_when_the_pipe_closes(groups: list[subprocess.Popen[bytes]]) -> None:
    reaper = Reaper(grace=5)
    reaper.start()
    kept, forgotten = _group(groups, "sleep 300"), _group(groups, "sleep 300")
    reaper.watch(kept.pid)
    reaper.watch(forgotten.pid)
    reaper.forget(forgotten.pid)
    reaper.close()
    assert reaper.pid is None
    assert kept.wait(10) == -signal.SIGTERM
    assert runs(forgotten.pid), "the reaper stops only what is registered when the pipe closes"


def test_a_group_still_registered_at_close_gets_sigterm_then_sigkill_before_close_returns(
    tmp_path: Path, groups: list[subprocess.Popen[bytes]]
) -> None:
    noted = tmp_path / "signals"
    reaper = Reaper(grace=0.5)
    reaper.start()
    proc = _group(groups, STUBBORN, str(noted))
    wait_for(lambda: len(_members(proc.pid)) >= 2, timeout=10, what="the group to start its grandchild")
    members = _members(proc.pid)
    reaper.watch(proc.pid)
    reaper.close()
    assert noted.read_text().split() == ["TERM"], "SIGTERM first"
    assert not any(runs(pid) for pid in members), "close returned before the group was gone"
    assert proc.wait(10) == -signal.SIGKILL


def test_the_reaper_ignores_the_signals_meant_for_its_worker(groups: list[subprocess.Popen[bytes]]) -> None:
    reaper = Reaper(grace=5)
    reaper.start()
    assert reaper.pid is not None
    proc = _group(groups, "sleep 300")
    reaper.watch(proc.pid)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        os.kill(reaper.pid, sig)
    reaper.watch(_group(groups, "sleep 300").pid)  # (a registration after the signals)
    assert runs(reaper.pid) and runs(proc.pid)
    pid = reaper.pid
    reaper.close()
    assert_gone(*(proc.pid for proc in groups))
    assert not os.path.exists(f"/proc/{pid}"), "close waits for the reaper: no zombie"


# Run in a process of its own, whose descriptors no other test's thread opens or closes.
CANNOT_START = """
import os, sys
from fsjobstore.loops.reaper import Reaper
sys.executable = "/bin/false"  # a real program that exits at once, saying nothing
before = sorted(os.listdir("/proc/self/fd"))
reaper = Reaper(grace=5)
try:
    reaper.start()
except OSError as exc:
    print(exc)
print(reaper.pid, sorted(os.listdir("/proc/self/fd")) == before)
"""


def test_a_reaper_that_cannot_start_is_an_error_that_leaves_no_pipe_open() -> None:
    result = subprocess.run([sys.executable, "-c", CANNOT_START], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["the reaper process (/bin/false) did not start: exit status 1", "None True"]
