"""Pruner: a worker purges the jobs past their retention now and then (the
store's default retention is a week), in Python and in `fsjobstore work`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from invariants import age_resolved
from loophelpers import running, wait_for

from fsjobstore import Job, JobStore, Worker
from fsjobstore.errors import JobStoreError

WEEK = 7 * 24 * 3600


def aged(store: JobStore, seconds: float) -> str:
    """A fulfilled job whose record was written *seconds* ago (filesystem clock)."""
    job = store.create({"old": True})
    store.fulfill(job.id, "v")
    age_resolved(store.path, job.id, seconds)
    return job.id


def gone(store: JobStore, job_id: str) -> bool:
    return job_id not in {job.id for job in store.jobs()}


def _handler(job: Job) -> str:
    return "done"


def test_a_worker_purges_what_is_past_the_retention_and_keeps_the_rest(open_store: Callable[..., JobStore]) -> None:
    store = open_store(poll_interval=0.05)
    old, young = aged(store, WEEK + 3600), aged(store, WEEK - 3600)
    with running(Worker(store, _handler, purge_every=0.2)):
        wait_for(lambda: gone(store, old), timeout=10, what="the old job purged")
    assert store.get(young).state == "fulfilled"


def test_no_purge_without_purge_every_nor_in_a_burst(open_store: Callable[..., JobStore]) -> None:
    store = open_store(poll_interval=0.05)
    old = aged(store, WEEK + 3600)
    store.create("work")
    Worker(store, _handler, purge_every=0.01).run(burst=True)
    with running(Worker(store, _handler, purge_every=None)):
        time.sleep(1.0)
    assert store.get(old).state == "fulfilled"


@pytest.mark.parametrize("bad", [0, -1, float("nan"), "1h"])
def test_a_bad_purge_every_is_refused_naming_it(open_store: Callable[..., JobStore], bad: object) -> None:
    with pytest.raises(ValueError, match="purge_every"):
        Worker(open_store(), _handler, purge_every=bad)  # type: ignore[arg-type]


class _FailsOnce(JobStore):
    """A store whose first purge fails (as on a full disk)."""

    failed = False

    def purge(self, older_than: float | None = None, **options: object) -> int:  # type: ignore[override]
        if not self.failed:
            self.failed = True
            raise JobStoreError("the disk is full")
        return super().purge(older_than)


def test_a_failed_purge_is_logged_and_tried_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with _FailsOnce(tmp_path / "store", create=True, durable=False, poll_interval=0.05) as store:
        old = aged(store, WEEK + 3600)
        with caplog.at_level(logging.WARNING, logger="fsjobstore"), running(Worker(store, _handler, purge_every=0.2)):
            wait_for(lambda: gone(store, old), timeout=10, what="the old job purged at the second try")
    assert any("purging" in r.getMessage() and "the disk is full" in r.getMessage() for r in caplog.records)
