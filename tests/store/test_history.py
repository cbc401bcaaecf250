"""Each job keeps its last attempts: who ran it (host, pid), when, how it ended, and why."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

from loophelpers import running

from fsjobstore import Job, JobStore, Worker
from fsjobstore._files.records import HISTORY_LIMIT


def test_each_commit_through_a_lease_adds_one_attempt(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    job = store.create("x")
    lease = store.pull_work()
    assert lease is not None
    lease.fail("flaky", retry=True, trace="Traceback ...\nValueError: flaky")
    lease = store.pull_work()
    assert lease is not None
    done = lease.fulfill("ok")
    first, second = store.get(job.id).history
    assert done.history == store.get(job.id).history
    assert (first["attempt"], first["outcome"], first["error"]) == (1, "retried", "flaky")
    assert first["traceback"].endswith("ValueError: flaky")
    assert (second["attempt"], second["outcome"], second["error"], second["traceback"]) == (2, "fulfilled", None, None)
    for entry in (first, second):
        assert entry["host"] == socket.gethostname() and entry["pid"] == os.getpid()
        assert entry["started_at"] <= entry["ended_at"]


def test_a_commit_is_updated_when_its_attempt_ended(open_store: Callable[..., JobStore]) -> None:
    # One reading of the clock for both: the record's updated_at and the attempt's end.
    store = open_store()
    job = store.create("x")
    for commit in (lambda lease: lease.fail("flaky", retry=True), lambda lease: lease.fulfill("ok")):
        lease = store.pull_work()
        assert lease is not None
        commit(lease)
        on_disk = store.get(job.id)
        updated_at = on_disk.updated_at.isoformat(timespec="microseconds").replace("+00:00", "Z")
        assert on_disk.history[-1]["ended_at"] == updated_at


def test_the_history_keeps_the_newest_attempts_only(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    job = store.create("x")
    for n in range(HISTORY_LIMIT + 3):
        lease = store.pull_work()
        assert lease is not None
        lease.fail(f"try {n + 1}", retry=True)
    history = store.get(job.id).history
    assert len(history) == HISTORY_LIMIT
    assert [entry["attempt"] for entry in history] == list(range(4, HISTORY_LIMIT + 4))


def test_an_expired_holder_is_an_attempt_with_its_host_and_pid(open_store: Callable[..., JobStore]) -> None:
    dead, alive = open_store(lease_seconds=0.5), open_store(lease_seconds=0.5)
    job = dead.create("x")
    assert dead.pull_work() is not None
    dead.context.abandon()  # as SIGKILL leaves it
    deadline = time.monotonic() + 10
    lease = None
    while lease is None and time.monotonic() < deadline:
        lease = alive.pull_work()
        time.sleep(0.05)
    assert lease is not None
    lease.fulfill("ok")
    expired, fulfilled = alive.get(job.id).history
    assert (expired["outcome"], expired["host"], expired["pid"]) == ("expired", socket.gethostname(), os.getpid())
    assert expired["started_at"] is None and "stopped renewing" in expired["error"]
    assert (fulfilled["attempt"], fulfilled["outcome"]) == (2, "fulfilled")


def test_a_worker_keeps_the_handlers_traceback_from_its_own_frames(
    open_store: Callable[..., JobStore]
) -> None:
    store = open_store(poll_interval=0.05)
    job = store.create("x")

    def handler(job: Job) -> str:
        raise KeyError("missing")

    with running(Worker(store, handler, max_attempts=1)):
        done = store.wait(job.id, timeout=10)
    (entry,) = done.history
    assert entry["outcome"] == "failed" and entry["error"] == "KeyError: 'missing'"
    trace = entry["traceback"].splitlines()
    assert trace[0] == "Traceback (most recent call last):" and "in handler" in trace[1]  # from the handler down
    assert trace[-1] == "KeyError: 'missing'"


def test_a_resolved_record_keeps_no_delay_from_its_last_retry(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    job = store.create("x")
    lease = store.pull_work()
    assert lease is not None
    lease.fail("later", retry=True, delay=0.01)
    time.sleep(0.05)
    lease = store.pull_work()
    assert lease is not None
    done = lease.fulfill("ok")
    assert done.not_before is None and store.get(job.id).not_before is None


def test_an_attempt_made_in_a_forked_child_names_the_child(open_store: Callable[..., JobStore]) -> None:
    # The pid is asked once per process: a forked child must not record its parent's.
    store = open_store()
    job = store.create("x")
    pid = os.fork()
    if pid == 0:
        lease = store.pull_work()
        code = 0 if lease is not None and lease.fulfill("child").state == "fulfilled" else 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    (entry,) = store.get(job.id).history
    assert entry["pid"] == pid != os.getpid()
