"""Contract: a job not started by its deadline ends expired; a worker discards an invalid job."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from fsjobstore import AttemptFailed, Job, Worker
from fsjobstore.interface import Store


def test_a_job_not_started_by_its_deadline_is_never_run_and_ends_expired(store: Store) -> None:
    late = store.create("late", deadline=0.2)
    past = store.create("past", deadline=datetime.now(UTC) - timedelta(seconds=1))
    on_time = store.create("on time", deadline=timedelta(hours=1))
    time.sleep(0.4)
    lease = store.pull_work()
    assert lease is not None and lease.id == on_time.id
    lease.fulfill("done")
    assert store.pull_work() is None
    for job in (late, past):
        expired = store.get(job.id)
        assert expired.state == "expired" and expired.error == "expired: not started by its deadline"
        assert expired.attempts == 0
    assert store.stats()["expired"] == 2 and store.get(on_time.id).deadline is not None
    assert [job.id for job in store.jobs("expired")] == sorted([late.id, past.id])


def test_a_deadline_is_for_jobs_never_started(store: Store) -> None:
    job = store.create("x", deadline=2.0)  # (time for the first pull, over HTTP, on a loaded machine)
    lease = store.pull_work()
    assert lease is not None
    lease.fail("boom", retry=True)
    time.sleep(2.2)
    lease = store.pull_work()
    assert lease is not None and lease.id == job.id  # started once: its deadline no longer applies
    lease.fulfill("done")


def test_an_expired_job_can_be_retried(store: Store) -> None:
    job = store.create("x", deadline=datetime.now(UTC) - timedelta(seconds=1))
    assert store.pull_work() is None
    assert store.get(job.id).state == "expired"
    assert store.retry(job.id).deadline is None
    lease = store.pull_work()
    assert lease is not None and lease.id == job.id
    lease.release()


@pytest.mark.parametrize("deadline", [0, -1, datetime(2030, 1, 1)])
def test_a_bad_deadline_is_refused_and_writes_nothing(store: Store, deadline: object) -> None:
    with pytest.raises(ValueError):
        store.create(1, deadline=deadline)  # type: ignore[arg-type]
    assert list(store.jobs()) == []


def test_a_worker_discards_an_invalid_job_without_retrying_it(store: Store) -> None:
    bad = store.create({"url": "ftp://x"})
    good = store.create({"url": "https://x"})

    def fetch(job: Job) -> str:
        if not job.request["url"].startswith("https://"):
            raise AttemptFailed("not an https URL", discard=True)
        return "fetched"

    Worker(store, fetch, max_attempts=5, poll_interval=0.05).run(burst=True)
    discarded = store.get(bad.id)
    assert (discarded.state, discarded.error, discarded.attempts) == ("discarded", "not an https URL", 0)
    assert store.get(good.id).state == "fulfilled" and store.stats()["discarded"] == 1


def test_discard_through_a_lease(store: Store) -> None:
    job = store.create("x")
    lease = store.pull_work()
    assert lease is not None
    assert lease.discard("invalid").state == "discarded"
    assert store.get(job.id).error == "invalid"
