"""A Worker with ``isolation="process"``: each handler call in a forked child that
leads a process group of its own, and that group stopped whenever the call must
end: its timeout, the worker aborting, the worker killed. Real processes: the
handler starts a `sleep` of its own, which must end with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from loophelpers import running, wait_for
from processes import assert_gone, kill_leftovers, reaper_of

from fsjobstore import Job, JobStore, Worker

ROOT = Path(__file__).resolve().parents[2]

# The handler, for a worker in this process or in a script: starts a `sleep` in its
# process group, notes "HANDLER_PID SLEEP_PID" in FOLDER/<job id>, and sleeps itself.
HANDLER = """
import os, subprocess, time

def sleeper(folder):
    def handler(job):
        sleep = subprocess.Popen(["sleep", "300"])
        with open(os.path.join(folder, job.id + ".tmp"), "w") as f:
            f.write(f"{os.getpid()} {sleep.pid}")
        os.rename(os.path.join(folder, job.id + ".tmp"), os.path.join(folder, job.id))
        time.sleep(300)
        return "never"
    return handler
"""
_space: dict[str, Callable[[str], Callable[[Job], str]]] = {}
exec(HANDLER, _space)
sleeper = _space["sleeper"]


@pytest.fixture
def marks(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "marks"
    folder.mkdir()
    yield folder
    kill_leftovers(*(pid for path in folder.iterdir() if path.suffix != ".tmp" for pid in _pids(path)))


def _pids(path: Path) -> list[int]:
    return [int(pid) for pid in path.read_text().split()]


def _started(marks: Path, *jobs: str) -> list[int]:
    """The pids of the handlers of *jobs* and of their sleeps, once all have started."""
    wait_for(lambda: all((marks / job).exists() for job in jobs), timeout=20, what="the handlers to start")
    return [pid for job in jobs for pid in _pids(marks / job)]


def test_a_timed_out_handler_ends_with_the_processes_it_started(open_store: Callable[..., JobStore],
                                                                marks: Path) -> None:
    store = open_store(poll_interval=0.05)
    job = store.create("x")
    with running(Worker(store, sleeper(str(marks)), max_attempts=1, timeout=0.5, isolation="process"),
                 join_timeout=20):
        done = store.wait(job.id, timeout=20)
    assert done.state == "failed" and "timed out after 0.5 s" in (done.error or "")
    assert_gone(*_started(marks, job.id))


def test_an_aborted_worker_stops_its_handlers_processes_and_gives_the_job_back(
    open_store: Callable[..., JobStore], marks: Path
) -> None:
    store = open_store(poll_interval=0.05)
    job = store.create("x")
    with running(Worker(store, sleeper(str(marks)), isolation="process", drain_timeout=0.2), join_timeout=20):
        pids = _started(marks, job.id)
    # run() has returned: past the drain timeout the handler was stopped, not left running
    assert_gone(*pids, within=2.0)
    again = store.get(job.id)
    assert again.state == "pending" and again.attempts == 0, "a stopped handler counts no attempt"


# A worker run in the main thread of its own process, as `python app.py` runs one:
# its signal handlers are installed, and a forked child inherits them.
MAIN_THREAD_WORKER = HANDLER + """
import sys
sys.path.insert(0, sys.argv[3])
import fsjobstore.loops.running
from fsjobstore import JobStore, Worker
fsjobstore.loops.running.KILL_GRACE = float(sys.argv[4])
store = JobStore(sys.argv[1], poll_interval=0.05)
Worker(store, sleeper(sys.argv[2]), max_attempts=1, timeout=float(sys.argv[5]) or None, isolation="process",
       concurrency=int(sys.argv[6])).run()
"""


def _main_thread_worker(store: JobStore, marks: Path, *, grace: float, timeout: float = 0,
                        concurrency: int = 1) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", MAIN_THREAD_WORKER, store.path, str(marks), str(ROOT),
                             str(grace), str(timeout), str(concurrency)], stderr=subprocess.PIPE)


def test_sigterm_ends_a_timed_out_handler_of_a_worker_in_its_main_thread(
    open_store: Callable[..., JobStore], marks: Path
) -> None:
    store = open_store()
    job = store.create("x")
    # A grace far longer than the wait below: only SIGTERM can end the handler in time.
    worker = _main_thread_worker(store, marks, grace=600, timeout=0.5)
    try:
        done = store.wait(job.id, timeout=30)
        assert done.state == "failed" and "timed out" in (done.error or "")
        assert_gone(*_started(marks, job.id))
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err.decode()


def test_a_killed_worker_leaves_none_of_its_handlers_processes_running(open_store: Callable[..., JobStore],
                                                                       marks: Path) -> None:
    """Three children forked by three threads: each is watched by the reaper, and
    none holds the reaper's pipe open (else the worker's death would not close it)."""
    store = open_store()
    jobs = [store.create(n).id for n in range(3)]
    worker = _main_thread_worker(store, marks, grace=0.5, concurrency=3)
    try:
        pids = _started(marks, *jobs)
        pipe = os.readlink(f"/proc/{reaper_of(worker.pid)}/fd/0")
        for handler in pids[::2]:
            held = {os.readlink(f"/proc/{handler}/fd/{fd}") for fd in os.listdir(f"/proc/{handler}/fd")}
            assert pipe not in held, f"handler {handler} holds the reaper's pipe"
        worker.kill()
        assert_gone(*pids, within=10)
    finally:
        worker.kill()
        worker.communicate()
