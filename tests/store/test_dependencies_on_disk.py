"""Dependencies on disk (docs/format.md, "Dependencies"): where a blocked job waits,
the markers that name it, what a settler leaves at each step, and the repairs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fsjobstore import JobNotFound, JobStore
from fsjobstore._files.ids import new_id


def names(store: JobStore, *folder: str) -> list[str]:
    path = os.path.join(store.path, *folder)
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def test_a_blocked_job_is_in_no_queue_and_its_parents_name_it(store: JobStore) -> None:
    a, b = store.create("a"), store.create("b", priority=5)
    child = store.create("c", after=[a.id, b.id, a.id])
    assert child.state == "blocked" and child.after == (a.id, b.id), "each parent once, in the order given"
    assert names(store, "blocked") == [f"{child.id}.json"]
    assert f"{child.id}.json" not in names(store, "pending")
    assert names(store, "dependants") == sorted([a.id, b.id])
    assert names(store, "dependants", a.id) == [child.id] == names(store, "dependants", b.id)
    pulled = {lease.id for lease in (store.pull_work(), store.pull_work()) if lease is not None}
    assert pulled == {a.id, b.id} and store.pull_work() is None, "the blocked job is never handed out"
    assert store.stats()["blocked"] == 1 and [job.id for job in store.jobs("blocked")] == [child.id]


def test_unknown_parent_is_refused_and_nothing_is_written(store: JobStore) -> None:
    a = store.create("a")
    missing = new_id()
    with pytest.raises(JobNotFound, match=f"no job with id '{missing}' to wait for.*no cycle can be made"):
        store.create("c", after=[a.id, missing])
    assert names(store, "blocked") == [] and names(store, "dependants") == []
    assert [job.id for job in store.jobs()] == [a.id]


@pytest.mark.parametrize(("after", "policy", "error", "match"), [
    ("01M8WH1BC6151J6DQXBKNNGCJ2", "cancel", TypeError, "a list of job ids, not str"),
    ([], "cancel", ValueError, "after is empty"),
    (["x"], "sometimes", ValueError, "on_parent_failure must be one of cancel, run"),
])
def test_bad_after_is_refused(store: JobStore, after: object, policy: str, error: type[Exception],
                              match: str) -> None:
    with pytest.raises(error, match=match):
        store.create("c", after=after, on_parent_failure=policy)  # type: ignore[arg-type]
    assert names(store, "blocked") == [] and names(store, "pending") == []


def test_a_key_and_after_together_are_refused(store: JobStore) -> None:
    a = store.create("a")
    with pytest.raises(ValueError, match="a job with a unique key cannot wait for others"):
        store.create("c", after=[a.id], key="k")
    assert names(store, "keys") == [] and names(store, "blocked") == []


def test_fulfilling_every_parent_releases_the_job_into_its_queue(store: JobStore) -> None:
    a, b = store.create("a"), store.create("b")
    child = store.create("c", after=[a.id, b.id], labels={"to": "w"}, priority=3)
    store.fulfill(a.id, "A")
    assert store.get(child.id).state == "blocked", "one parent of two"
    store.fulfill(b.id, "B")
    assert store.get(child.id).state == "pending" and names(store, "blocked") == []
    assert store.record_path(child.id).endswith(os.path.join("queues", child.id.split("-")[1].split("_")[0],
                                                             "p3", child.id[:7], f"{child.id}.json"))
    lease = store.pull_work(to="w")
    assert lease is not None and lease.id == child.id
    assert names(store, "dependants", a.id) == [child.id], "markers stay until the parent is purged"


def test_a_child_made_after_its_parents_resolved_is_released_at_once(store: JobStore) -> None:
    a = store.create("a")
    store.fulfill(a.id, "A")
    assert store.create("c", after=[a.id]).state == "pending"
    failed = store.create("f")
    store.fail(failed.id, "boom")
    late = store.create("d", after=[failed.id])
    assert (late.state, late.error) == ("cancelled", f"cancelled: parent {failed.id} failed: boom")


def test_a_failed_parent_cancels_its_dependants_all_the_way_down(store: JobStore) -> None:
    a, other = store.create("a"), store.create("other")
    b = store.create("b", after=[a.id, other.id])
    c = store.create("c", after=[b.id])
    store.queue(c.id, "told")
    store.cancel(a.id)
    assert store.get(b.id).error == f"cancelled: parent {a.id} cancelled: cancelled"
    assert (store.get(c.id).state, store.get(c.id).error) == (
        "cancelled", f"cancelled: parent {b.id} cancelled: parent {a.id} cancelled: cancelled")  # (one per link)
    assert names(store, "blocked") == [] and names(store, "due") == [c.id]
    assert store.get(other.id).state == "pending", "a parent is never touched by its dependants"


def test_on_parent_failure_run_waits_for_every_parent_then_runs(store: JobStore) -> None:
    a, b = store.create("a"), store.create("b")
    child = store.create("c", after=[a.id, b.id], on_parent_failure="run")
    store.fail(a.id, "boom")
    assert store.get(child.id).state == "blocked"
    store.fulfill(b.id, "B")
    job = store.get(child.id)
    assert (job.state, job.on_parent_failure) == ("pending", "run")


def test_a_blocked_job_can_be_cancelled_and_takes_targets(store: JobStore) -> None:
    a = store.create("a")
    child = store.create("c", after=[a.id])
    store.queue(child.id, "t")
    assert store.get(child.id).waiting == ("t",)
    store.cancel(child.id)
    assert store.get(child.id).state == "cancelled" and names(store, "blocked") == []
    store.fulfill(a.id, "A")
    assert store.get(child.id).state == "cancelled", "a resolved dependant is left as it is"
    assert store.check().problems == []


def test_a_parent_is_not_purged_while_a_dependant_is_still_to_run(store: JobStore) -> None:
    a, b = store.create("a"), store.create("b")
    child = store.create("c", after=[a.id, b.id])
    store.fulfill(a.id, "A")
    assert store.purge(older_than=0) == 0 and store.get(a.id).state == "fulfilled", "the child is blocked"
    store.fulfill(b.id, "B")
    assert store.purge(older_than=0) == 0, "the child is pending: it may read its parents' values"
    lease = store.pull_work()
    assert lease is not None and lease.id == child.id
    assert [store.get(parent).result for parent in lease.job.after] == ["A", "B"]
    lease.fulfill("C")
    assert store.purge(older_than=0) == 3
    assert names(store, "dependants") == [], "a purged parent's markers go with it"


def test_a_dependant_of_a_purged_parent_is_cancelled_saying_so(store: JobStore) -> None:
    a, b = store.create("a"), store.create("b")
    child = store.create("c", after=[a.id, b.id])
    store.fulfill(a.id, "A")
    store.delete(a.id)  # (an operator's delete does not wait for dependants)
    store.fulfill(b.id, "B")
    assert store.get(child.id).error == f"cancelled: parent {a.id} no longer exists (purged or deleted)"


def test_the_same_create_with_after_twice_makes_one_job(store: JobStore) -> None:
    a = store.create("a")
    job_id = new_id()
    first = store.create("c", after=[a.id], job_id=job_id)
    assert store.create("c", after=[a.id], job_id=job_id).id == first.id
    store.fulfill(a.id, "A")
    again = store.create("c", after=[a.id], job_id=job_id)
    assert again.state == "pending" and names(store, "blocked") == [], "released since: not blocked again"


def test_a_settler_that_stopped_midway_is_finished_by_the_next_pull(store: JobStore) -> None:
    a = store.create("a")
    child = store.create("c", after=[a.id])
    blocked = Path(store.path, "blocked", f"{child.id}.json")
    copy = blocked.read_bytes()
    store.fulfill(a.id, "A")
    blocked.write_bytes(copy)  # as if the settler died between publishing pending/ and the unlink
    assert store.get(child.id).state == "pending"
    assert [(p.kind, p.repaired) for p in store.check().problems] == [("unsettled", False)]
    lease = store.pull_work()
    assert lease is not None and lease.id == child.id
    assert names(store, "blocked") == []


def test_a_parent_resolved_with_no_settler_is_healed_by_check_and_by_pulls(tmp_path: Path) -> None:
    for heal in ("check", "pull"):
        store = JobStore(tmp_path / heal, create=True, durable=False)
        a = store.create("a")
        child = store.create("c", after=[a.id])
        marker = Path(store.path, "dependants", a.id, child.id)
        marker.rename(tmp_path / f"{heal}-marker")  # the resolver finds no dependant to settle
        store.fulfill(a.id, "A")
        marker.parent.joinpath(child.id).touch()
        assert store.get(child.id).state == "blocked"
        if heal == "check":
            assert [(p.kind, p.repaired) for p in store.check(repair=True).problems] == [("unsettled", True)]
            assert store.check().problems == []
        lease = store.pull_work()
        assert lease is not None and lease.id == child.id
        store.close()


def test_check_cancels_a_dependant_a_failed_parent_left_blocked_beside_a_pending_one(store: JobStore,
                                                                                      tmp_path: Path) -> None:
    a, b = store.create("a"), store.create("b")
    child = store.create("c", after=[a.id, b.id])
    marker = Path(store.path, "dependants", a.id, child.id)
    marker.rename(tmp_path / "marker")  # the canceller finds no dependant to settle
    store.cancel(a.id)
    assert store.get(child.id).state == "blocked"
    assert [(p.kind, p.detail) for p in store.check().problems] == [
        ("unsettled", "blocked, though its parents let it go")]
    assert [p.repaired for p in store.check(repair=True).problems] == [True]
    assert store.get(child.id).error == f"cancelled: parent {a.id} cancelled: cancelled"
    assert store.get(b.id).state == "pending" and store.check().problems == []
