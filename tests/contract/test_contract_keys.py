"""Contract: unique keys (create(key=..., on_conflict=...)) on every store."""

from __future__ import annotations

import pytest

from fsjobstore import DuplicateJob, JobStateError
from fsjobstore.interface import Store


def test_a_second_create_with_the_key_returns_the_job_that_has_it(store: Store) -> None:
    first = store.create({"order": 42}, key="order-42")
    again = store.create({"order": "other"}, key="order-42")
    assert again.id == first.id and again.request == {"order": 42} and again.key == "order-42"
    other = store.create({"order": 43}, key="order-43")
    assert other.id != first.id
    assert sorted(job.key or "" for job in store.jobs()) == ["order-42", "order-43"]


def test_raise_names_the_job_that_has_the_key(store: Store) -> None:
    first = store.create(1, key="k")
    with pytest.raises(DuplicateJob) as raised:
        store.create(2, key="k", on_conflict="raise")
    assert (raised.value.key, raised.value.job_id) == ("k", first.id)
    assert [job.request for job in store.jobs()] == [1]


def test_replace_changes_a_pending_jobs_request_and_extend_its_delay(store: Store) -> None:
    first = store.create({"v": 1}, key="k")
    replaced = store.create({"v": 2}, key="k", on_conflict="replace")
    assert replaced.id == first.id and store.get(first.id).request == {"v": 2}
    store.create(None, key="k", on_conflict="extend", not_before=3600)
    assert store.pull_work() is None  # delayed an hour by the extend
    assert store.get(first.id).request == {"v": 2}


def test_replace_or_extend_of_a_running_or_resolved_job_is_refused(store: Store) -> None:
    job = store.create({"v": 1}, key="k")
    lease = store.pull_work()
    assert lease is not None and lease.id == job.id
    with pytest.raises(JobStateError, match="running"):
        store.create({"v": 2}, key="k", on_conflict="replace")
    lease.fulfill("done")
    with pytest.raises(JobStateError, match="fulfilled"):
        store.create({"v": 2}, key="k", on_conflict="extend", not_before=1)
    assert store.get(job.id).request == {"v": 1}
    assert store.create({"v": 3}, key="k").id == job.id  # resolved, not purged: still has the key


def test_the_key_is_free_again_once_its_job_is_purged(store: Store) -> None:
    job = store.create(1, key="k")
    store.cancel(job.id)
    assert store.purge(older_than=0) == 1
    again = store.create(2, key="k", on_conflict="raise")
    assert again.id != job.id and again.request == 2


@pytest.mark.parametrize("options", [{"key": ""}, {"key": 7}, {"key": "k", "on_conflict": "merge"},
                                     {"key": "k", "on_conflict": "extend"}])
def test_a_bad_key_or_conflict_rule_is_refused_and_writes_nothing(store: Store, options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        store.create(1, **options)  # type: ignore[arg-type]
    assert list(store.jobs()) == []
