"""Worker at its edges: results that cannot be stored, handlers that hang or kill
their worker, errors that must not be retried."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from loophelpers import running, wait_for

from fsjobstore import AttemptFailed, Backoff, Job, JobStore, Worker

ROOT = Path(__file__).resolve().parents[2]


def fast_store(open_store: Callable[..., JobStore], **options: Any) -> JobStore:
    options.setdefault("poll_interval", 0.05)
    return open_store(**options)


@pytest.mark.parametrize("result", [{1, 2}, "\udc80 lone surrogate", "x" * 2000, ["x" * 2000]],
                         ids=["set", "surrogate", "too-large", "too-large-json"])
def test_a_result_that_cannot_be_stored_is_a_counted_failed_attempt(
    open_store: Callable[..., JobStore], result: Any
) -> None:
    store = fast_store(open_store, max_bytes=1000)
    job = store.create("x")
    calls = []

    def handler(job: Job) -> Any:
        calls.append(time.monotonic())
        return result

    worker = Worker(store, handler, max_attempts=3, backoff=Backoff(base=0.2, jitter=0))
    with running(worker):
        done = store.wait(job.id, timeout=10)
        time.sleep(0.3)  # a hot loop would call it thousands of times meanwhile
    assert done.state == "failed" and done.attempts == 3
    assert len(calls) == 3
    assert calls[1] - calls[0] >= 0.15 and calls[2] - calls[1] >= 0.3  # backed off each time
    assert worker.failed_attempts == 3 and worker.fulfilled == 0


def test_an_attempt_failed_without_retry_fails_the_job_at_once(open_store: Callable[..., JobStore]) -> None:
    store = fast_store(open_store)
    never = store.create({"bad": True})
    fatal = store.create({"fatal": True})

    def handler(job: Job) -> str:
        if "bad" in job.request:
            raise AttemptFailed("the request can never succeed", retry=False)
        raise KeyError("no such thing")

    with running(Worker(store, handler, max_attempts=5, fatal=(KeyError,))):
        first, second = store.wait(never.id, timeout=10), store.wait(fatal.id, timeout=10)
    assert (first.state, first.attempts, first.error) == ("failed", 1, "the request can never succeed")
    assert (second.state, second.attempts, second.error) == ("failed", 1, "KeyError: 'no such thing'")


def test_a_huge_error_message_is_cut_not_lost(open_store: Callable[..., JobStore]) -> None:
    store = fast_store(open_store)
    job = store.create("x")

    def handler(job: Job) -> str:
        raise ValueError("e" * 100_000)

    with running(Worker(store, handler, max_attempts=1)):
        done = store.wait(job.id, timeout=10)
    assert done.state == "failed" and done.error is not None
    assert done.error.startswith("ValueError: eee") and done.error.endswith("(cut)") and len(done.error) <= 8192


def test_a_hung_handler_fails_its_attempt_at_the_timeout(open_store: Callable[..., JobStore]) -> None:
    store = fast_store(open_store)
    job = store.create("x", task="slow")
    quick = store.create("y", task="quick")

    def handler(job: Job) -> str:
        time.sleep(3 if job.task == "slow" else 0)
        return "done"

    worker = Worker(store, {"slow": handler, "quick": handler}, max_attempts=1, timeout={"slow": 0.3, "quick": 5})
    started = time.monotonic()
    with running(worker, join_timeout=10):
        done = store.wait(job.id, timeout=10)
        assert store.wait(quick.id, timeout=10).state == "fulfilled"
    assert done.state == "failed" and "timed out after 0.3 s" in (done.error or "")
    assert time.monotonic() - started < 2.5  # not the handler's 3 s


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie counts as gone: it no longer runs.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


def test_a_process_isolated_handler_is_killed_at_its_timeout(open_store: Callable[..., JobStore],
                                                               tmp_path: Path) -> None:
    store = fast_store(open_store)
    job = store.create("x")
    pid_file = tmp_path / "pid"

    def handler(job: Job) -> str:
        pid_file.write_text(str(os.getpid()))
        time.sleep(60)
        return "never"

    with running(Worker(store, handler, max_attempts=1, timeout=0.5, isolation="process"), join_timeout=15):
        done = store.wait(job.id, timeout=15)
    assert done.state == "failed" and "its process was killed" in (done.error or "")
    pid = int(pid_file.read_text())
    assert pid != os.getpid()
    wait_for(lambda: not _alive(pid), 10, "the handler's process to be gone")


def test_a_process_isolated_handler_is_stopped_when_its_job_is_cancelled(open_store: Callable[..., JobStore],
                                                                          tmp_path: Path) -> None:
    store = fast_store(open_store, lease_seconds=0.6)
    job = store.create("x")
    pid_file = tmp_path / "pid"

    def handler(job: Job) -> str:
        pid_file.write_text(str(os.getpid()))
        time.sleep(60)
        return "never"

    with running(Worker(store, handler, isolation="process"), join_timeout=15):
        # (the file exists a moment before its pid is written in it)
        pid = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), 10, "the handler to start"))
        store.cancel(job.id)
        wait_for(lambda: not _alive(pid), 10, "the cancelled job's process to be stopped")
    assert store.get(job.id).state == "cancelled"


def test_a_process_isolated_handler_returns_and_raises_like_one_in_a_thread(
    open_store: Callable[..., JobStore]
) -> None:
    store = fast_store(open_store)
    good, bad = store.create(3), store.create("boom")

    def handler(job: Job) -> str:
        if job.request == "boom":
            raise RuntimeError("it broke in the child")
        return str(job.request * 2)

    with running(Worker(store, handler, max_attempts=1, isolation="process")):
        assert store.wait(good.id, timeout=10).value == b"6"
        failed = store.wait(bad.id, timeout=10)
    assert failed.state == "failed" and failed.error == "RuntimeError: it broke in the child"


POISON = """
import os, sys, threading
sys.path.insert(0, sys.argv[3])
from fsjobstore import JobStore, Worker
store = JobStore(sys.argv[1], lease_seconds=0.5, poll_interval=0.05)
def handler(job):
    with open(sys.argv[2], "a") as runs:
        runs.write("ran\\n")
    os._exit(1)  # as a segfault or the OOM killer would
worker = Worker(store, handler, max_attempts=2)
thread = threading.Thread(target=worker.run, daemon=True)
thread.start()
store.wait(sys.argv[4], timeout=30)  # the worker failed the job without running it
worker.stop()
thread.join()
"""


def test_a_job_that_kills_its_workers_is_failed_once_its_attempts_are_used(open_store: Callable[..., JobStore],
                                                                          tmp_path: Path) -> None:
    store = open_store(lease_seconds=0.5)
    job = store.create("poison")
    runs = tmp_path / "runs"
    for _ in range(5):
        if store.get(job.id).resolved:
            break
        child = subprocess.Popen([sys.executable, "-c", POISON, store.path, str(runs), str(ROOT), job.id])
        assert child.wait(timeout=40) in (0, 1)
    done = store.wait(job.id, timeout=10)
    assert done.state == "failed" and done.attempts == 2
    assert done.error is not None and done.error.startswith("gave up after 2 attempts")
    assert "lease expired" in done.error
    assert runs.read_text().count("ran") == 2
    assert [entry["outcome"] for entry in done.history] == ["expired", "expired"]  # giving up is no attempt


def test_a_retry_whose_delay_has_passed_runs_before_the_backlog(open_store: Callable[..., JobStore]) -> None:
    store = fast_store(open_store)
    first = store.create("fails once")
    backlog = [store.create(n).id for n in range(300)]
    order: list[str] = []

    def handler(job: Job) -> str:
        order.append(job.id)
        if job.id == first.id and order.count(first.id) == 1:
            raise AttemptFailed("once")
        time.sleep(0.005)
        return "ok"

    with running(Worker(store, handler, backoff=Backoff(base=0.2, jitter=0))):
        store.wait(first.id, timeout=30)
        wait_for(lambda: all(store.get(job_id).resolved for job_id in backlog[-5:]), 30, "the backlog")
    first_run = order.index(first.id)
    between = order.index(first.id, first_run + 1) - first_run - 1
    # 0.2 s at 5 ms a job is about 40 jobs: well before the end of the 300.
    assert between < 150, f"the retry ran after {between} other jobs"
