"""Wake-ups: idle loops and store.wait() woken by inotify, with polling as the fallback."""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from loophelpers import running

import fsjobstore._files.wakeup as wakeup
from fsjobstore import InvalidJobId, Job, JobNotFound, JobStore, Notifier, Worker


class Started:
    """A handler that records when it started each job."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.event = threading.Event()

    def __call__(self, job: Job) -> str:
        self.at[job.id] = time.monotonic()
        self.event.set()
        return "ok"


def test_an_idle_watching_worker_starts_a_new_job_at_once(open_store: Callable[..., JobStore]) -> None:
    store = open_store(poll_interval=5.0, watch=True)
    handler = Started()
    with running(Worker(store, handler)):
        time.sleep(0.3)  # the worker has found nothing and is waiting (up to 5 s)
        latencies = []
        for _ in range(3):
            handler.event.clear()
            created = time.monotonic()
            job = store.create("wake up")
            assert handler.event.wait(5)
            latencies.append(handler.at[job.id] - created)
            assert store.wait(job.id, timeout=5).state == "fulfilled"
            time.sleep(0.05)
    assert max(latencies) < 1.0, f"create-to-start latencies {latencies} with a 5 s poll interval"


def test_an_idle_watching_notifier_delivers_at_once(open_store: Callable[..., JobStore]) -> None:
    store = open_store(poll_interval=5.0, watch=True)
    delivered = threading.Event()
    at: list[float] = []

    def deliver(target: Any, job: Job) -> None:
        at.append(time.monotonic())
        delivered.set()

    job = store.create("x")
    store.queue(job.id, "t")
    with running(Notifier(store, deliver)):
        time.sleep(0.3)
        resolved = time.monotonic()
        store.fulfill(job.id, "v")
        assert delivered.wait(5)
    assert at[0] - resolved < 1.0


def test_a_worker_freed_from_a_busy_resource_is_woken(open_store: Callable[..., JobStore]) -> None:
    # The second job waits for the first one's resource; the release wakes its
    # thread, well before the 5 s poll interval.
    store = open_store(poll_interval=5.0, watch=True)
    ends: dict[str, float] = {}
    starts: dict[str, float] = {}

    def handler(job: Job) -> str:
        starts[job.id] = time.monotonic()
        time.sleep(0.2)
        ends[job.id] = time.monotonic()
        return "ok"

    first = store.create(1, resource="r")
    second = store.create(2, resource="r")
    with running(Worker(store, handler, concurrency=2)):
        assert store.wait(first.id, timeout=10).state == "fulfilled"
        assert store.wait(second.id, timeout=10).state == "fulfilled"
    (a, b) = sorted(starts, key=starts.__getitem__)
    assert starts[b] - ends[a] < 1.0


def test_without_watching_latency_is_bounded_by_the_poll_interval(open_store: Callable[..., JobStore]) -> None:
    poll = 0.3
    store = open_store(poll_interval=poll, watch=False)
    handler = Started()
    with running(Worker(store, handler)):
        time.sleep(0.4)
        created = time.monotonic()
        job = store.create("poll me")
        assert handler.event.wait(5)
        latency = handler.at[job.id] - created
    assert latency < 0.7, f"latency {latency:.3f} s with a {poll} s poll interval"


def test_wait_returns_when_the_job_is_resolved_elsewhere(open_store: Callable[..., JobStore]) -> None:
    store = open_store(poll_interval=5.0, watch=True)
    job = store.create("x")
    timer = threading.Timer(0.2, lambda: store.fulfill(job.id, "from another thread"))
    started = time.monotonic()
    timer.start()
    try:
        done = store.wait(job.id, timeout=10)
    finally:
        timer.cancel()
        timer.join()
    took = time.monotonic() - started
    assert done.state == "fulfilled" and done.value == b"from another thread"
    assert 0.15 <= took < 1.5, took


def test_wait_polls_without_watching(open_store: Callable[..., JobStore]) -> None:
    store = open_store(poll_interval=0.1, watch=False)
    other = open_store(watch=False)  # as if on another host
    job = store.create("x")
    timer = threading.Timer(0.2, lambda: other.fail(job.id, "no"))
    started = time.monotonic()
    timer.start()
    try:
        done = store.wait(job.id, timeout=10)
    finally:
        timer.cancel()
        timer.join()
    assert done.state == "failed" and done.error == "no"
    assert time.monotonic() - started < 1.0


def test_wait_on_a_resolved_job_returns_at_once(open_store: Callable[..., JobStore]) -> None:
    store = open_store(poll_interval=5.0)
    fulfilled = store.create("a")
    store.fulfill(fulfilled.id, "v")
    cancelled = store.create("b")
    store.cancel(cancelled.id)
    started = time.monotonic()
    assert store.wait(fulfilled.id, timeout=5).value == b"v"
    assert store.wait(cancelled.id).state == "cancelled"
    assert time.monotonic() - started < 0.5


def test_wait_times_out_on_an_unresolved_job(open_store: Callable[..., JobStore]) -> None:
    store = open_store(poll_interval=5.0)
    job = store.create("never done")
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        store.wait(job.id, timeout=0.3)
    took = time.monotonic() - started
    assert 0.25 <= took < 1.5, took
    assert store.get(job.id).state == "pending"


def test_wait_validates_the_id(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    with pytest.raises(InvalidJobId):
        store.wait("../x", timeout=1)
    with pytest.raises(JobNotFound):
        store.wait("01JD3Z6M6W4Q8S1V2X3Y4Z5A6B", timeout=1)


@pytest.fixture
def broken_watcher(monkeypatch: pytest.MonkeyPatch) -> Iterator[wakeup.Watcher]:
    """A fresh process-wide watcher whose inotify watches fail with EMFILE."""
    from watchdog.observers import Observer

    def schedule(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.EMFILE, "inotify instance limit reached")

    fresh = wakeup.Watcher()
    monkeypatch.setattr(wakeup, "watcher", fresh)
    monkeypatch.setattr(Observer, "schedule", schedule)
    yield fresh
    fresh.stop()


def test_loops_fall_back_to_polling_when_watching_cannot_start(
    open_store: Callable[..., JobStore], broken_watcher: wakeup.Watcher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="fsjobstore")
    store = open_store(poll_interval=0.2, watch=True)
    handler = Started()
    with running(Worker(store, handler)):
        time.sleep(0.3)
        job = store.create("still done")
        done = store.wait(job.id, timeout=10)
        second = store.create("and again")
        assert store.wait(second.id, timeout=10).state == "fulfilled"
    assert done.state == "fulfilled" and done.value == b"ok"
    failure = wakeup.watch_failure()
    assert failure is not None and "inotify instance limit" in failure
    warnings = [r.getMessage() for r in caplog.records if "fall back to polling" in r.getMessage()]
    assert len(warnings) == 1, f"the reason should be logged once: {warnings}"


def test_no_watch_failure_while_watching_works(open_store: Callable[..., JobStore]) -> None:
    store = open_store(watch=True)
    signal = store.work_signal()
    try:
        assert wakeup.watch_failure() is None
    finally:
        wakeup.unwatch(signal)


def test_a_signal_without_watching_is_never_set(open_store: Callable[..., JobStore]) -> None:
    store = open_store(watch=False)
    signal = store.work_signal()
    try:
        store.create("x")
        started = time.monotonic()
        assert signal.wait(0.1) is False
        assert time.monotonic() - started >= 0.07
    finally:
        wakeup.unwatch(signal)


def test_a_watching_signal_is_set_by_new_work(open_store: Callable[..., JobStore]) -> None:
    store = open_store(watch=True)
    signal = store.work_signal()
    try:
        signal.clear()
        store.create("x")
        assert signal.wait(5) is True
    finally:
        wakeup.unwatch(signal)
