"""Worker: the loop that pulls jobs, runs a handler and commits through the lease."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from invariants import record_files
from loophelpers import running, wait_for

from fsjobstore import AttemptFailed, Backoff, Job, JobStore, Worker

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def fast_store(open_store: Callable[..., JobStore], **options: Any) -> JobStore:
    options.setdefault("poll_interval", 0.05)
    return open_store(**options)


# -- success --------------------------------------------------------------------------------


def test_worker_fulfils_jobs_with_the_handlers_value(open_store: Callable[..., JobStore]) -> None:
    store = fast_store(open_store)
    jobs = [store.create({"n": n}) for n in range(3)]
    seen: list[Job] = []

    def handler(job: Job) -> str:
        seen.append(job)
        return f"done {job.request['n']}"

    worker = Worker(store, handler)
    with running(worker):
        results = [store.wait(job.id, timeout=10) for job in jobs]
    assert [r.state for r in results] == ["fulfilled"] * 3
    assert [r.value for r in results] == [b"done 0", b"done 1", b"done 2"]
    assert [r.attempts for r in results] == [0, 0, 0]
    assert all(r.error is None for r in results)
    assert sorted(job.id for job in seen) == sorted(job.id for job in jobs)
    assert all(job.state == "running" for job in seen), "the handler sees the job as running"
    assert worker.fulfilled == 3 and worker.failed_attempts == 0
    assert store.stats()["pending"] == 0


def test_handler_returning_bytes_is_stored_exactly(open_store: Callable[..., JobStore]) -> None:
    store = fast_store(open_store)
    job = store.create("binary")
    payload = bytes(range(256))
    with running(Worker(store, lambda job: payload)):
        done = store.wait(job.id, timeout=10)
    assert done.state == "fulfilled"
    assert done.value == payload


# -- failures, retries, backoff -------------------------------------------------------------


def test_failing_handler_is_retried_with_exponential_backoff_then_failed(
    open_store: Callable[..., JobStore],
) -> None:
    store = fast_store(open_store)
    other = open_store()  # another process's view of the same store
    job = store.create({"doomed": True})
    calls: list[float] = []

    def handler(job: Job) -> str:
        calls.append(time.monotonic())
        raise RuntimeError(f"boom {len(calls)}")

    base = 0.2
    worker = Worker(store, handler, max_attempts=3, backoff=Backoff(base=base, factor=2.0, jitter=0.0))
    with running(worker):
        # After the first failed attempt: pending, with its next attempt time ahead.
        after_first = wait_for(lambda: (j := store.get(job.id)).attempts >= 1 and j, what="first failure")
        assert after_first.state in ("pending", "running")
        assert after_first.error == "RuntimeError: boom 1"
        assert after_first.not_before is not None
        delay = after_first.not_before.timestamp() - after_first.updated_at.timestamp()
        assert base * 0.9 <= delay <= base * 1.1 + 0.05, delay
        if time.time() < after_first.not_before.timestamp() - 0.05:
            assert other.pull_work() is None, "a job must not be pullable before its next attempt time"
            assert store.get(job.id).attempts == 1
        final = store.wait(job.id, timeout=10)
    assert final.state == "failed"
    assert final.attempts == 3
    assert final.error == "RuntimeError: boom 3"
    assert final.value is None
    assert len(calls) == 3, "exactly max_attempts attempts"
    gaps = [b - a for a, b in pairwise(calls)]
    assert gaps[0] >= base * 0.95, gaps
    assert gaps[1] >= 2 * base * 0.95, gaps
    assert worker.failed_attempts == 3 and worker.fulfilled == 0
    assert other.pull_work() is None


def test_a_handler_that_fails_then_succeeds_is_fulfilled(open_store: Callable[..., JobStore]) -> None:
    store = fast_store(open_store)
    job = store.create("flaky")
    calls = []

    def handler(job: Job) -> str:
        calls.append(job.attempts)
        if len(calls) < 3:
            raise ValueError("not yet")
        return "finally"

    worker = Worker(store, handler, max_attempts=5, backoff=Backoff(base=0.02, jitter=0.0))
    with running(worker):
        done = store.wait(job.id, timeout=10)
    assert done.state == "fulfilled"
    assert done.value == b"finally"
    assert done.attempts == 2
    assert calls == [0, 1, 2], "the handler sees how many attempts failed before"


class _Opaque:
    pass


@pytest.mark.parametrize("returned", [_Opaque(), {1, 2}, {"nested": float("nan")}, [b"bytes in a list"]],
                         ids=["object", "set", "nan", "bytes-in-list"])
def test_a_handler_returning_what_is_not_json_fails_the_attempt(
    open_store: Callable[..., JobStore], returned: Any
) -> None:
    store = fast_store(open_store)
    job = store.create("wrong type")
    with running(Worker(store, lambda job: returned, max_attempts=1)):
        done = store.wait(job.id, timeout=10)
    assert done.state == "failed"
    assert done.value is None
    assert done.attempts == 1
    assert done.error is not None and "TypeError" in done.error and "not JSON-serialisable" in done.error


def test_max_attempts_one_fails_at_once(open_store: Callable[..., JobStore]) -> None:
    store = fast_store(open_store)
    job = store.create("once")
    calls = []

    def handler(job: Job) -> str:
        calls.append(job.id)
        raise KeyError("missing")

    with running(Worker(store, handler, max_attempts=1, backoff=Backoff(base=10.0))):
        done = store.wait(job.id, timeout=10)
    assert done.state == "failed" and done.attempts == 1
    assert done.error is not None and done.error.startswith("KeyError")
    assert calls == [job.id]


def test_attempt_failed_records_its_message_verbatim_on_retries_and_at_the_end(
    open_store: Callable[..., JobStore],
) -> None:
    store = fast_store(open_store)
    job = store.create("said it all")
    errors: list[str | None] = []

    def handler(job: Job) -> str:
        errors.append(job.error)  # the previous attempt's error, as recorded
        raise AttemptFailed(f"disk full (attempt {job.attempts + 1})")

    with running(Worker(store, handler, max_attempts=2, backoff=Backoff(base=0.02, jitter=0.0))):
        done = store.wait(job.id, timeout=10)
    assert done.state == "failed" and done.attempts == 2
    assert done.error == "disk full (attempt 2)"
    assert errors == [None, "disk full (attempt 1)"]


# -- tasks ------------------------------------------------------------------------------------


def test_a_task_mapping_pulls_only_its_tasks(open_store: Callable[..., JobStore]) -> None:
    store = fast_store(open_store)
    resize = store.create({"img": 1}, task="resize")
    plain = store.create({"plain": True})
    other = store.create({"mail": 1}, task="email")
    seen: dict[str, list[str]] = {"resize": [], "none": []}

    def do_resize(job: Job) -> str:
        seen["resize"].append(job.id)
        assert job.task == "resize"
        return "resized"

    def do_plain(job: Job) -> str:
        seen["none"].append(job.id)
        assert job.task is None
        return "plain"

    with running(Worker(store, {"resize": do_resize, None: do_plain})):
        assert store.wait(resize.id, timeout=10).value == b"resized"
        assert store.wait(plain.id, timeout=10).value == b"plain"
        time.sleep(0.3)  # several poll intervals: the email job must stay untouched
        left = store.get(other.id)
        assert left.state == "pending" and left.attempts == 0
    assert seen == {"resize": [resize.id], "none": [plain.id]}
    assert store.get(other.id).state == "pending"


def test_a_task_mapping_without_none_leaves_jobs_without_task(open_store: Callable[..., JobStore]) -> None:
    store = fast_store(open_store)
    plain = store.create("no task")
    mine = store.create("mine", task="t")
    with running(Worker(store, {"t": lambda job: "ok"})):
        assert store.wait(mine.id, timeout=10).state == "fulfilled"
        time.sleep(0.2)
    assert store.get(plain.id).state == "pending"


@pytest.mark.parametrize("per_job", [False, True], ids=["store-lease", "per-job-lease"])
def test_leases_are_renewed_while_a_long_handler_runs(open_store: Callable[..., JobStore], per_job: bool) -> None:
    # The handler outlives the lease several times over; renewals keep every
    # other puller away, and the job is done once, with no attempt counted.
    if per_job:
        store = fast_store(open_store, lease_seconds=30.0)
        job = store.create("long", lease_seconds=0.4)
    else:
        store = fast_store(open_store, lease_seconds=0.4)
        job = store.create("long")
    other = open_store(lease_seconds=30.0)
    started = threading.Event()
    calls = []

    def handler(job: Job) -> str:
        calls.append(job.id)
        started.set()
        time.sleep(1.2)
        return "long done"

    with running(Worker(store, handler)):
        assert started.wait(10)
        stolen = []
        while store.get(job.id).state == "running":
            lease = other.pull_work()
            if lease is not None:
                stolen.append(lease.id)
                lease.release()
            time.sleep(0.02)
        done = store.wait(job.id, timeout=10)
    assert stolen == [], "a lease renewed by its holder was taken over"
    assert done.state == "fulfilled" and done.value == b"long done"
    assert done.attempts == 0
    assert calls == [job.id]


# -- resources and concurrency -----------------------------------------------------------------


def _timed_handler(spans: list[tuple[str, float, float]], seconds: float) -> Callable[[Job], str]:
    lock = threading.Lock()

    def handler(job: Job) -> str:
        start = time.monotonic()
        time.sleep(seconds)
        end = time.monotonic()
        with lock:
            spans.append((job.id, start, end))
        return "ok"

    return handler


def test_jobs_with_the_same_resource_never_run_at_the_same_time(open_store: Callable[..., JobStore]) -> None:
    store = fast_store(open_store)
    jobs = [store.create({"n": n}, resource="printer") for n in range(3)]
    spans: list[tuple[str, float, float]] = []
    with running(Worker(store, _timed_handler(spans, 0.15), concurrency=2)):
        for job in jobs:
            assert store.wait(job.id, timeout=10).state == "fulfilled"
    assert len(spans) == 3
    spans.sort(key=lambda s: s[1])
    for (_, _, end), (_, start, _) in pairwise(spans):
        assert start >= end, f"jobs on one resource overlapped: {spans}"


def test_jobs_on_different_resources_run_concurrently(open_store: Callable[..., JobStore]) -> None:
    store = fast_store(open_store)
    jobs = [store.create("a", resource="a"), store.create("b", resource="b")]
    spans: list[tuple[str, float, float]] = []
    with running(Worker(store, _timed_handler(spans, 0.4), concurrency=2)):
        for job in jobs:
            assert store.wait(job.id, timeout=10).state == "fulfilled"
    assert len(spans) == 2
    (_, start1, end1), (_, start2, end2) = spans
    assert max(start1, start2) < min(end1, end2), f"jobs on different resources did not overlap: {spans}"


def test_a_job_waiting_for_its_resource_does_not_busy_loop(open_store: Callable[..., JobStore]) -> None:
    # The spec: jobs on a busy resource "wait their turn, without busy-looping".
    store = open_store(poll_interval=5.0)
    pulls = [0]
    pull_work = store.pull_work

    def counting_pull(*args: Any, **kwargs: Any) -> Any:
        pulls[0] += 1
        return pull_work(*args, **kwargs)

    store.pull_work = counting_pull  # type: ignore[method-assign]
    jobs = [store.create(n, resource="r") for n in range(2)]
    spans: list[tuple[str, float, float]] = []
    with running(Worker(store, _timed_handler(spans, 0.6), concurrency=2)):
        for job in jobs:
            assert store.wait(job.id, timeout=10).state == "fulfilled"
    # Two jobs, two threads: a handful of pulls (each wake-up by a real change)
    # are fine; hundreds while the resource is held are a busy loop.
    assert pulls[0] < 30, f"{pulls[0]} pulls for 2 jobs on one resource: the waiting thread busy-loops"


def test_concurrency_runs_that_many_handlers_at_once(open_store: Callable[..., JobStore]) -> None:
    store = fast_store(open_store)
    jobs = [store.create(n) for n in range(3)]
    barrier = threading.Barrier(3, timeout=5)

    def handler(job: Job) -> str:
        barrier.wait()  # only passes if three handlers run at the same time
        return "together"

    with running(Worker(store, handler, concurrency=3)):
        results = [store.wait(job.id, timeout=10) for job in jobs]
    assert [r.value for r in results] == [b"together"] * 3


def test_concurrency_one_runs_one_handler_at_a_time(open_store: Callable[..., JobStore]) -> None:
    store = fast_store(open_store)
    jobs = [store.create(n) for n in range(3)]
    spans: list[tuple[str, float, float]] = []
    with running(Worker(store, _timed_handler(spans, 0.05), concurrency=1)):
        for job in jobs:
            assert store.wait(job.id, timeout=10).state == "fulfilled"
    spans.sort(key=lambda s: s[1])
    for (_, _, end), (_, start, _) in pairwise(spans):
        assert start >= end


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_invalid_concurrency_and_max_attempts_are_refused(open_store: Callable[..., JobStore], bad: Any) -> None:
    store = open_store()
    with pytest.raises(ValueError):
        Worker(store, lambda job: "x", concurrency=bad)
    with pytest.raises(ValueError):
        Worker(store, lambda job: "x", max_attempts=bad)


def test_invalid_handlers_are_refused(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    with pytest.raises(TypeError):
        Worker(store, "not callable")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Worker(store, {})
    with pytest.raises(TypeError):
        Worker(store, {"t": 3})  # type: ignore[dict-item]


# -- graceful shutdown --------------------------------------------------------------------------


def _wait_running(store: JobStore, job_id: str, timeout: float = 10.0) -> None:
    wait_for(lambda: store.get(job_id).state == "running", timeout, f"job {job_id} to be running")


def test_sigterm_to_a_cli_worker_finishes_the_job_in_flight(tmp_path: Path) -> None:
    path = tmp_path / "store"
    store = JobStore(path, durable=False, poll_interval=0.05, create=True)
    try:
        job = store.create({"n": 7})
        proc = subprocess.Popen(
            [sys.executable, "-m", "fsjobstore", "--store", str(path), "work", "--poll-interval", "0.05",
             "--", "sh", "-c", "sleep 1; cat"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            _wait_running(store, job.id)
            sent = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=15)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        assert took < 5.0, f"a SIGTERMed worker took {took:.1f} s to finish a 1 s job"
        done = store.get(job.id)
        assert done.state == "fulfilled", "the job in flight was lost"
        assert done.value == json.dumps({"n": 7}).encode()
        assert store.stats()["running"] == 0
    finally:
        store.close()


def _spawn_slow_worker(path: Path, sleep: float, drain: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(SCRIPTS / "slow_worker.py"), str(path), str(sleep), str(drain)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _read_line(proc: subprocess.Popen[str], prefix: str, timeout: float = 10.0) -> str:
    assert proc.stdout is not None
    result: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(prefix):
                result.append(line.strip())
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    assert result, f"the process never printed {prefix!r}"
    return result[0]


def test_sigterm_to_a_python_worker_lets_the_running_handler_finish(tmp_path: Path) -> None:
    path = tmp_path / "store"
    store = JobStore(path, durable=False, poll_interval=0.05, create=True)
    proc = _spawn_slow_worker(path, sleep=0.6, drain=10.0)
    try:
        _read_line(proc, "ready")
        job = store.create("finish me")
        assert _read_line(proc, "started") == f"started {job.id}"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert "stopped" in out
        done = store.get(job.id)
        assert done.state == "fulfilled" and done.value == b"slow done"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        store.close()


def test_sigterm_past_the_drain_timeout_releases_the_job_for_a_later_worker(tmp_path: Path) -> None:
    path = tmp_path / "store"
    store = JobStore(path, durable=False, poll_interval=0.05, lease_seconds=30.0, create=True)
    proc = _spawn_slow_worker(path, sleep=60.0, drain=0.2)
    try:
        _read_line(proc, "ready")
        job = store.create("too slow")
        assert _read_line(proc, "started") == f"started {job.id}"
        assert store.get(job.id).state == "running"
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert time.monotonic() - sent < 5.0, "the drain timeout was not honoured"
        # Released (not left to expire after the 30 s lease): pending at once.
        left = store.get(job.id)
        assert left.state == "pending"
        assert left.value is None
        with running(Worker(store, lambda job: "done later")):
            done = store.wait(job.id, timeout=10)
        assert done.state == "fulfilled" and done.value == b"done later"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        store.close()


def test_drain_timeout_releases_a_stuck_jobs_lease(
    open_store: Callable[..., JobStore], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="fsjobstore")
    store = fast_store(open_store, lease_seconds=30.0)
    other = open_store(lease_seconds=30.0)
    job = store.create("stuck")
    started = threading.Event()
    unblock = threading.Event()

    def handler(job: Job) -> str:
        started.set()
        unblock.wait(10)
        return "too late"

    worker = Worker(store, handler, drain_timeout=0.2)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        assert started.wait(10)
        assert store.get(job.id).state == "running"
        assert other.pull_work() is None
        stopped = time.monotonic()
        worker.stop()
        thread.join(5)
        assert not thread.is_alive(), "run() did not return after the drain timeout"
        assert time.monotonic() - stopped < 2.0
        assert store.get(job.id).state == "pending", "a stuck job's lease must be released"
        lease = other.pull_work()
        assert lease is not None and lease.id == job.id, "the released job must be pullable again"
        unblock.set()
        # The stuck handler's late commit is refused: its lease was released.
        wait_for(lambda: any("not committed" in r.getMessage() for r in caplog.records), what="refused commit")
        assert store.get(job.id).state == "running"
        assert not lease.compromised
        lease.fulfill("by the next worker")
        assert store.get(job.id).value == b"by the next worker"
    finally:
        unblock.set()
        worker.stop()
        thread.join(5)
    assert worker.fulfilled == 0


# -- cancellation --------------------------------------------------------------------------------


def test_a_cancelled_pending_job_is_never_run(open_store: Callable[..., JobStore]) -> None:
    store = fast_store(open_store)
    doomed = store.create("cancel me")
    cancelled = store.cancel(doomed.id)
    assert cancelled.state == "cancelled"
    later = store.create("run me")
    seen: list[str] = []

    def handler(job: Job) -> str:
        seen.append(job.id)
        return "ran"

    with running(Worker(store, handler)):
        assert store.wait(later.id, timeout=10).state == "fulfilled"
        time.sleep(0.15)
    assert seen == [later.id]
    final = store.get(doomed.id)
    assert final.state == "cancelled" and final.value is None
    assert store.wait(doomed.id, timeout=1).state == "cancelled"


def test_a_cancelled_running_job_is_told_and_its_commit_refused(
    open_store: Callable[..., JobStore], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="fsjobstore")
    store = fast_store(open_store, lease_seconds=0.6)  # renewed (and so checked) every 0.2 s
    job = store.create("long")
    started = threading.Event()
    unblock = threading.Event()

    def handler(job: Job) -> str:
        started.set()
        unblock.wait(10)
        return "should not be committed"

    worker = Worker(store, handler)
    try:
        with running(worker):
            assert started.wait(10)
            assert store.cancel(job.id).state == "cancelled"
            wait_for(
                lambda: any(f"lost the lease on job {job.id}" in r.getMessage() for r in caplog.records),
                timeout=5, what="on_compromised",
            )
            unblock.set()
            wait_for(lambda: any("not committed" in r.getMessage() for r in caplog.records), what="refused commit")
    finally:
        unblock.set()
    final = store.get(job.id)
    assert final.state == "cancelled"
    assert final.value is None
    assert worker.fulfilled == 0
    assert store.stats()["running"] == 0


def test_a_cancelled_running_job_that_fails_stays_cancelled(open_store: Callable[..., JobStore]) -> None:
    store = fast_store(open_store, lease_seconds=0.6)
    job = store.create("long")
    started = threading.Event()
    unblock = threading.Event()

    def handler(job: Job) -> str:
        started.set()
        unblock.wait(10)
        raise RuntimeError("gave up")

    worker = Worker(store, handler, max_attempts=5, backoff=Backoff(base=0.01))
    try:
        with running(worker):
            assert started.wait(10)
            store.cancel(job.id)
            unblock.set()
            wait_for(lambda: worker.failed_attempts == 1, what="the failed attempt")
            time.sleep(0.2)
    finally:
        unblock.set()
    final = store.get(job.id)
    assert final.state == "cancelled" and final.error == "cancelled"
    assert not record_files(store.path, "pending"), "a cancelled job must not come back to pending"
