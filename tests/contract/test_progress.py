"""Contract: progress reported through a work lease is fenced like a commit, seen by
get() while the job runs, and is what the next attempt starts with after a crash,
a lost lease or a retry."""

from __future__ import annotations

import time

import pytest
from backends import LEASE, Backend

from fsjobstore import Backoff, LeaseLost, Worker
from fsjobstore.interface import Store
from fsjobstore.job import Job


def test_progress_is_seen_while_running_and_kept_by_a_retry(store: Store) -> None:
    job = store.create("x")
    lease = store.pull_work()
    assert lease is not None and lease.job.progress is None
    lease.progress({"done": 3, "of": 10})
    lease.progress({"done": 5, "of": 10})
    seen = store.get(job.id)
    assert (seen.state, seen.progress) == ("running", {"done": 5, "of": 10})
    lease.fail("crashed halfway", retry=True)
    again = store.pull_work()
    assert again is not None and again.job.progress == {"done": 5, "of": 10}
    assert again.fulfill("ok").progress == {"done": 5, "of": 10}


def test_the_next_holder_after_a_lost_lease_starts_from_the_checkpoint(backend: Backend) -> None:
    first, second = backend.open(), backend.open()
    job = first.create("x")
    lease = first.pull_work()
    assert lease is not None
    lease.progress("step 2")
    backend.silence(first)  # it hangs: its lease expires
    deadline = time.monotonic() + 10 * LEASE
    while (taken := second.pull_work()) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert taken.id == job.id and taken.job.progress == "step 2"
    with pytest.raises(LeaseLost):
        lease.progress("step 3")  # fenced: the late holder changes nothing
    taken.progress("step 3 again")
    assert second.get(job.id).progress == "step 3 again"
    taken.release()


def test_bad_progress_is_refused_and_writes_nothing(store: Store) -> None:
    store.create("x")
    lease = store.pull_work()
    assert lease is not None
    lease.progress([1])
    with pytest.raises(TypeError):
        lease.progress({1, 2})
    assert store.get(lease.id).progress == [1]
    lease.fulfill("v")
    with pytest.raises(LeaseLost):
        lease.progress([2])  # after the commit
    assert store.get(lease.id).progress == [1]


def test_a_worker_handler_resumes_from_its_checkpoint(store: Store) -> None:
    job = store.create({"steps": 4})
    runs: list[object] = []

    def handler(job: Job) -> str:
        start = job.progress or 0
        runs.append(start)
        for step in range(start, job.request["steps"]):
            worker.progress(job, step + 1)
            if step == 1 and len(runs) == 1:
                raise RuntimeError("crash after step 2")
        return "done"

    worker = Worker(store, handler, poll_interval=0.05, backoff=Backoff(base=0.01))
    worker.run(burst=True)
    assert runs == [0, 2]
    assert store.get(job.id).progress == 4 and store.get(job.id).state == "fulfilled"
    with pytest.raises(LeaseLost, match="holds no lease"):
        worker.progress(store.get(job.id), 5)
