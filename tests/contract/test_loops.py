"""Worker and Notifier run over any store of the interface, unchanged (the in-memory
fake included: the proof that the loops use nothing but the seam)."""

from __future__ import annotations

import threading
import time
from typing import Any

from backends import Backend

from fsjobstore import AttemptFailed, Backoff, Job, Notifier, Worker


def test_a_worker_and_a_notifier_drain_jobs_with_retries(backend: Backend) -> None:
    store = backend.open()
    ids = [store.create({"n": n}, task="square").id for n in range(6)]
    for job_id in ids:
        store.queue(job_id, {"reply_to": job_id})
    tries: dict[str, int] = {}
    delivered: list[tuple[Any, bytes | None]] = []

    def square(job: Job) -> str:
        tries[job.id] = tries.get(job.id, 0) + 1
        if job.request["n"] == 1 and tries[job.id] == 1:
            raise AttemptFailed("first try fails")
        return str(job.request["n"] ** 2)

    worker = Worker(store, {"square": square}, concurrency=2, poll_interval=0.05, backoff=Backoff(base=0.05))
    notifier = Notifier(store, lambda target, job: delivered.append((target, job.value)), poll_interval=0.05)
    threads = [threading.Thread(target=loop.run) for loop in (worker, notifier)]
    for thread in threads:
        thread.start()
    try:
        results = [store.wait(job_id, timeout=20) for job_id in ids]
        deadline = time.monotonic() + 20
        while len(delivered) < len(ids) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        worker.stop()
        notifier.stop()
        for thread in threads:
            thread.join(30)
    assert [job.value for job in results] == [str(n * n).encode() for n in range(6)]
    assert results[1].attempts == 1 and tries[ids[1]] == 2
    assert sorted(target["reply_to"] for target, _ in delivered) == sorted(ids)
    assert all(value == store.get(target["reply_to"]).value for target, value in delivered)
    assert worker.fulfilled == 6 and notifier.delivered == 6


def test_a_running_loop_is_listed_with_its_current_job_until_it_stops(backend: Backend) -> None:
    store = backend.open()
    job = store.create("x", task="slow")
    started = threading.Event()

    def slow(job: Job) -> str:
        started.set()
        time.sleep(2.5)
        return "done"

    worker = Worker(store, {"slow": slow}, poll_interval=0.05)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        assert started.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            listed = [w for w in store.workers() if w.kind == "worker"]
            if listed and listed[0].current == [job.id]:
                break
            time.sleep(0.1)
        assert len(listed) == 1 and listed[0].current == [job.id], listed
        assert listed[0].alive and listed[0].tasks == ["slow"] and listed[0].concurrency == 1
    finally:
        worker.stop()
        thread.join(30)
    assert [w for w in store.workers() if w.kind == "worker"] == []


def test_a_burst_run_returns_once_everything_it_can_do_is_done(backend: Backend) -> None:
    store = backend.open()
    ids = [store.create(n).id for n in range(4)]
    tried: set[str] = set()

    def handler(job: Job) -> str:
        if job.id == ids[0] and job.id not in tried:
            tried.add(job.id)
            raise AttemptFailed("once")  # its retry, 0.2 s later, still belongs to the burst
        return "ok"

    worker = Worker(store, handler, concurrency=2, poll_interval=0.05, backoff=Backoff(base=0.2, jitter=0))
    thread = threading.Thread(target=worker.run, kwargs={"burst": True})
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "a burst run did not return by itself"
    assert [store.get(job_id).state for job_id in ids] == ["fulfilled"] * 4


def test_a_handler_may_return_any_json_value(backend: Backend) -> None:
    store = backend.open()
    job = store.create({"n": 3})
    Worker(store, lambda job: {"square": job.request["n"] ** 2, "of": [job.request["n"]]},
           poll_interval=0.05).run(burst=True)
    assert store.get(job.id).result == {"square": 9, "of": [3]}


def test_a_notifier_gives_a_failing_target_up_after_max_attempts(backend: Backend) -> None:
    store = backend.open()
    job = store.create("x")
    store.queue(job.id, "down")
    store.queue(job.id, "up")
    store.fulfill(job.id, "v")
    tries: list[Any] = []

    def deliver(target: Any, job: Job) -> None:
        tries.append(target)
        if target == "down":
            raise ConnectionError("refused")

    notifier = Notifier(store, deliver, max_attempts=3, backoff=Backoff(base=0.01, jitter=0), poll_interval=0.05)
    finished = threading.Event()
    thread = threading.Thread(target=lambda: (notifier.run(burst=True), finished.set()))
    thread.start()
    thread.join(30)
    assert finished.is_set(), "a burst run ends once the failing target is given up (it used to retry forever)"
    assert tries.count("down") == 3 and tries.count("up") == 1
    [failure] = store.get(job.id).failed_deliveries
    assert (failure["target"], failure["failures"], failure["given_up"]) == ("down", 3, True)
    assert failure["last_error"] == "ConnectionError: refused"
    assert notifier.delivered == 1 and notifier.failed_deliveries == 3
    assert store.stats()["due"] == 0
