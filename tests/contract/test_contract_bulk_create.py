"""Contract: create_many (bulk create) on every store."""

from __future__ import annotations

from typing import Any

import pytest

from fsjobstore import DuplicateJob, JobSpec
from fsjobstore.errors import UnknownParent
from fsjobstore.interface import Store


def test_a_batch_makes_one_pending_job_per_request_in_order(store: Store) -> None:
    made = store.create_many([{"n": n} for n in range(50)], task="bulk")
    assert [job.request for job in made] == [{"n": n} for n in range(50)]
    assert len({job.id for job in made}) == 50 and all(job.state == "pending" for job in made)
    assert all(job.task == "bulk" for job in made)
    assert [job.id for job in made] == sorted(job.id for job in made), "ids sort by creation, in batch order"
    assert {job.id: job.request for job in store.jobs("pending")} == {job.id: job.request for job in made}
    assert store.get(made[7].id).request == {"n": 7}
    assert store.stats()["pending"] == 50


def test_a_spec_s_options_replace_the_batch_s(store: Store) -> None:
    made = store.create_many(
        [{"plain": 1}, JobSpec({"own": 2}, task="other", labels={"to": "mailer"}, priority=5, key="k2"),
         JobSpec({"own": 3}, resource="gpu")],
        task="base", labels={"sender": "billing"}, priority=-3,
    )
    plain, own, gpu = (store.get(job.id) for job in made)
    assert (plain.task, plain.labels, plain.priority, plain.key) == ("base", {"sender": "billing"}, -3, None)
    assert (own.task, own.labels, own.priority, own.key) == ("other", {"to": "mailer"}, 5, "k2")
    assert (gpu.task, gpu.resource, gpu.labels, gpu.priority) == ("base", "gpu", {"sender": "billing"}, -3)
    lease = store.pull_work(to="mailer")
    assert lease is not None and lease.id == own.id, "the spec's address is its own"
    lease.release()


def test_the_jobs_of_a_batch_are_each_their_own(store: Store) -> None:
    """Jobs made from one set of options share no mutable part."""
    first, second = store.create_many([1, 2], labels={"a": "b"})
    first.labels["a"] = "changed"
    assert second.labels == {"a": "b"} and store.get(second.id).labels == {"a": "b"}
    lease = store.pull_work()
    assert lease is not None
    lease.fulfill("done")
    other = second if lease.id == first.id else first
    assert store.get(lease.id).state == "fulfilled" and store.get(other.id).state == "pending"


@pytest.mark.parametrize(("bad", "error", "words"), [
    (JobSpec({"n": 2}, priority=500), ValueError, "priority"),
    (JobSpec({"n": 2}, key="k", on_conflict="merge"), ValueError, "on_conflict"),
    (JobSpec({"n": 2}, key=""), ValueError, "key"),
    ({1, 2}, TypeError, "JSON"),
])
def test_bad_input_anywhere_names_the_item_and_writes_nothing(store: Store, bad: Any, error: type[Exception],
                                                              words: str) -> None:
    store.create("before")
    # (an HTTP store's server names the item by its place in the body: jobs.2)
    with pytest.raises(error, match=rf"(requests\[2\]: |jobs\.2\.).*{words}"):
        store.create_many([{"n": 0}, {"n": 1}, bad, {"n": 3}])
    assert [job.request for job in store.jobs()] == ["before"]


def test_two_items_with_one_key_are_refused_naming_both(store: Store) -> None:
    with pytest.raises(ValueError, match=r"requests\[3\]: the key 'k' is given to requests\[1\] too"):
        store.create_many([0, JobSpec(1, key="k"), 2, JobSpec(3, key="k")])
    assert list(store.jobs()) == []


def test_a_key_a_job_has_already_acts_as_on_conflict_says(store: Store) -> None:
    first = store.create({"v": 1}, key="k")
    made = store.create_many([JobSpec({"v": 2}, key="k"), {"v": 3}])
    assert made[0].id == first.id and made[0].request == {"v": 1}, "return: the job that has the key"
    replaced = store.create_many([JobSpec({"v": 4}, key="k", on_conflict="replace")])
    assert replaced[0].id == first.id and store.get(first.id).request == {"v": 4}
    assert sorted(str(job.request) for job in store.jobs()) == ["{'v': 3}", "{'v': 4}"]


def test_raise_on_a_key_a_job_has_writes_nothing(store: Store) -> None:
    first = store.create({"v": 1}, key="k")
    with pytest.raises(DuplicateJob) as raised:
        store.create_many([{"v": 2}, JobSpec({"v": 3}, key="new"), JobSpec({"v": 4}, key="k")],
                          on_conflict="raise")
    assert (raised.value.key, raised.value.job_id) == ("k", first.id)
    assert [job.request for job in store.jobs()] == [{"v": 1}], "checked before anything was written"
    made = store.create_many([JobSpec({"v": 3}, key="new")], on_conflict="raise")
    assert store.get(made[0].id).key == "new", "the key left free by the refused batch"


def test_progress_reaches_the_batch_size(store: Store) -> None:
    seen: list[tuple[int, int]] = []
    store.create_many([JobSpec(0, key="a"), 1, 2], progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (3, 3) and all(total == 3 for _, total in seen)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_an_empty_batch_makes_nothing(store: Store) -> None:
    assert store.create_many([]) == []
    assert list(store.jobs()) == []


def test_a_spec_may_wait_for_jobs_that_exist(store: Store) -> None:
    parent = store.create("parent")
    plain, child = store.create_many(["plain", JobSpec("child", after=[parent.id], on_parent_failure="run")])
    assert (plain.state, child.state, child.after, child.on_parent_failure) == (
        "pending", "blocked", (parent.id,), "run")
    store.fail(parent.id, "no")
    assert store.get(child.id).state == "pending", "run once its parent is resolved, whatever its end"


def test_a_spec_waiting_for_a_missing_job_makes_no_job(store: Store) -> None:
    store.create("before")
    with pytest.raises(UnknownParent):
        store.create_many(["plain", JobSpec("child", after=["01ZZZZZZZZZZZZZZZZZZZZZZZZ"])])
    assert [job.request for job in store.jobs()] == ["before"]
