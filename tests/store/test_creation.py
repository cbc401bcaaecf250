"""create() under an id the caller picked: at most one job per id, whatever how often
the create is sent (a client that lost the first answer sends it again)."""

from __future__ import annotations

import os

import pytest
from invariants import record_files

from fsjobstore import InvalidJobId, JobStateError, JobStore
from fsjobstore._files.ids import new_id


def files(store: JobStore, folder: str) -> list[str]:
    """The names of the records in *folder* (``pending``: in its buckets)."""
    if folder == "pending":
        return sorted(os.path.basename(path) for path in record_files(store.path, folder))
    return sorted(os.listdir(os.path.join(store.path, folder)))


def test_the_same_create_twice_makes_one_job_and_returns_it_as_it_is_now(store: JobStore) -> None:
    job_id = new_id()
    first = store.create({"n": 1}, task="square", job_id=job_id, expires_in=60)
    again = store.create({"n": 1}, task="square", job_id=job_id, expires_in=60)
    assert first.id == again.id == job_id and again.state == "pending" and again.created_at == first.created_at
    assert files(store, "pending") == [f"{job_id}.json"] and store.stats()["pending"] == 1
    lease = store.pull_work()
    assert lease is not None
    assert store.create({"n": 1}, task="square", job_id=job_id, expires_in=60).state == "running"
    lease.fulfill("1")
    late = store.create({"n": 1}, task="square", job_id=job_id, expires_in=60)
    assert (late.state, late.value) == ("fulfilled", b"1"), "done since the first try: not made again"
    assert files(store, "pending") == [] and store.stats() == {
        "pending": 0, "blocked": 0, "running": 0, "fulfilled": 1, "failed": 0, "cancelled": 0, "expired": 0,
        "discarded": 0, "due": 0}


@pytest.mark.parametrize(("change", "named"), [
    ({"request": {"n": 2}}, "request"), ({"task": "cube"}, "task"), ({"expires_in": 61.0}, "expires_in"),
    ({"not_before": 30.0}, "delay"),
])
def test_an_id_taken_by_another_job_is_refused_and_nothing_changes(
        store: JobStore, change: dict[str, object], named: str) -> None:
    job_id = new_id()
    store.create({"n": 1}, task="square", job_id=job_id, expires_in=60)
    options: dict[str, object] = {"task": "square", "expires_in": 60} | change
    request = options.pop("request", {"n": 1})
    with pytest.raises(JobStateError, match=f"is taken by a job with another {named}: a new job needs a new id"):
        store.create(request, job_id=job_id, **options)  # type: ignore[arg-type]
    job = store.get(job_id)
    assert (job.request, job.task, job.expires_in, job.not_before) == ({"n": 1}, "square", 60, None)


@pytest.mark.parametrize("bad", ["job-1", "01M8WFKPYVJG7KDDFFK8CCH5Y", "01m8wfkpyvjg7kddffk8cch5y8", "../x", 7])
def test_an_id_not_made_as_the_stores_own_is_refused(store: JobStore, bad: object) -> None:
    with pytest.raises(InvalidJobId, match="26 characters of Crockford base32"):
        store.create("x", job_id=bad)  # type: ignore[arg-type]
    assert files(store, "pending") == []
