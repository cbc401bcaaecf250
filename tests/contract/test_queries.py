"""Contract: listing, counting and waiting."""

from __future__ import annotations

import threading

import pytest

from fsjobstore.interface import Store


def test_stats_and_jobs_agree(store: Store) -> None:
    ids = [store.create(n).id for n in range(3)]
    lease = store.pull_work()
    assert lease is not None
    lease.fulfill("done")
    counts = store.stats()
    assert (counts["pending"], counts["fulfilled"], counts["running"]) == (2, 1, 0)
    assert sorted(job.id for job in store.jobs()) == sorted(ids)
    assert [job.id for job in store.jobs("fulfilled")] == [lease.id]
    with pytest.raises(ValueError):
        list(store.jobs("bogus"))


def test_wait_returns_the_resolved_job_or_times_out(store: Store) -> None:
    job = store.create("x")
    with pytest.raises(TimeoutError):
        store.wait(job.id, timeout=0.2)
    threading.Timer(0.2, store.cancel, args=(job.id,)).start()
    assert store.wait(job.id, timeout=10).state == "cancelled"


def test_purge_removes_resolved_jobs_and_check_counts_the_rest(store: Store) -> None:
    done = store.create("x")
    kept = store.create("y")
    store.cancel(done.id)
    assert store.purge(older_than=0) == 1
    assert [job.id for job in store.jobs()] == [kept.id]
    report = store.check()
    assert report.clean and report.counts["pending"] == 1
