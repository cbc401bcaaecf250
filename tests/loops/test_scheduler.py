"""Scheduler: the loop that makes schedules' ticks, alone or inside a Worker."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from loophelpers import running, wait_for

from fsjobstore import Job, JobStore, Worker
from fsjobstore._store.schedules import tick_id
from fsjobstore.loops import Scheduler


def test_a_worker_with_schedules_makes_the_ticks_and_does_them(open_store: Callable[..., JobStore]) -> None:
    store = open_store(poll_interval=0.05)
    store.schedules.add("beat", every=1, task="beat", request={"n": 1})
    done: list[str] = []

    def handler(job: Job) -> str:
        done.append(job.id)
        return "ok"

    worker = Worker(store, {"beat": handler}, schedules=True)
    with running(worker):
        wait_for(lambda: len(done) >= 2, timeout=10, what="two ticks done")
        kinds = sorted(info.kind for info in store.workers())
        assert kinds == ["scheduler", "worker"]
    assert store.workers() == []
    last = store.schedules.last_tick("beat")
    assert last is not None and tick_id("beat", last) in {job.id for job in store.jobs()}
    assert all(store.get(job_id).state == "fulfilled" for job_id in done)


def test_a_scheduler_in_burst_makes_what_is_due_and_returns(open_store: Callable[..., JobStore]) -> None:
    store = open_store(poll_interval=0.05)
    store.schedules.add("beat", every=1)
    wait_for(lambda: Scheduler(store).run(burst=True) or list(store.jobs()), timeout=5, what="a tick")


def test_a_store_without_schedules_is_refused() -> None:
    http = pytest.importorskip("fsjobstore.http.client")
    remote = http.HttpStore("http://127.0.0.1:9", None)
    with pytest.raises(TypeError, match="schedules live in a store's folder: http://127.0.0.1:9 has none"):
        Scheduler(remote)
    with pytest.raises(TypeError, match="has none"):
        Worker(remote, lambda job: "x", schedules=True)
