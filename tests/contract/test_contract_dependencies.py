"""Contract: a job made after others (create(after=[ids])) is blocked until every parent
is fulfilled; a parent that ends otherwise cancels it (or, on_parent_failure="run",
lets it run once every parent is resolved); its handler reads its parents' values."""

from __future__ import annotations

import pytest

from fsjobstore import Job, JobNotFound, JobStateError, Worker
from fsjobstore.errors import InvalidJobId, UnknownParent
from fsjobstore.interface import Store
from fsjobstore.parents import parent_values, parents


def pulled_ids(store: Store) -> list[str]:
    """Pull (and release) everything pullable now."""
    leases = []
    while (lease := store.pull_work()) is not None:
        leases.append(lease)
    for lease in leases:
        lease.release()
    return sorted(lease.id for lease in leases)


def test_a_job_is_blocked_until_every_parent_is_fulfilled(store: Store) -> None:
    a, b = store.create("a"), store.create("b")
    child = store.create("c", after=[a.id, b.id])
    assert (child.state, child.after, child.on_parent_failure) == ("blocked", (a.id, b.id), "cancel")
    assert pulled_ids(store) == sorted([a.id, b.id]), "a blocked job is never handed out"
    assert store.stats()["blocked"] == 1 and [job.id for job in store.jobs("blocked")] == [child.id]
    store.fulfill(a.id, "A")
    assert store.get(child.id).state == "blocked"
    assert pulled_ids(store) == [b.id]
    store.fulfill(b.id, {"b": 2})
    assert store.get(child.id).state == "pending" and store.stats()["blocked"] == 0
    lease = store.pull_work()
    assert lease is not None and lease.id == child.id
    assert parent_values(store, lease.job) == ["A", {"b": 2}]
    lease.fulfill("C")


def test_a_job_names_its_dependants_oldest_first(store: Store) -> None:
    a, b = store.create("a"), store.create("b")
    first = store.create("1", after=[a.id])
    second = store.create("2", after=[a.id, b.id])
    grandchild = store.create("3", after=[first.id])
    assert store.dependants(a.id) == [first.id, second.id]
    assert store.dependants(b.id) == [second.id]
    assert store.dependants(first.id) == [grandchild.id], "children only, not grandchildren"
    assert store.dependants(grandchild.id) == []
    store.fulfill(a.id, "A")  # a resolved parent still names them
    assert store.dependants(a.id) == [first.id, second.id]
    with pytest.raises(InvalidJobId):
        store.dependants("../x")


def test_a_parent_that_fails_cancels_its_dependants_with_the_reason_all_the_way_down(store: Store) -> None:
    a, other = store.create("a"), store.create("other")
    b = store.create("b", after=[a.id, other.id])
    c = store.create("c", after=[b.id])
    store.fail(a.id, "boom")
    assert (store.get(b.id).state, store.get(b.id).error) == ("cancelled", f"cancelled: parent {a.id} failed: boom")
    assert store.get(c.id).state == "cancelled" and f"parent {b.id} cancelled" in (store.get(c.id).error or "")
    assert store.get(other.id).state == "pending"
    assert pulled_ids(store) == [other.id]


@pytest.mark.parametrize("how", ["cancel", "discard"])
def test_a_cancelled_or_discarded_parent_cancels_its_dependants(store: Store, how: str) -> None:
    a = store.create("a")
    child = store.create("c", after=[a.id])
    if how == "cancel":
        store.cancel(a.id)
    else:
        lease = store.pull_work()
        assert lease is not None
        lease.discard("invalid")
    said = "cancelled: cancelled" if how == "cancel" else "discarded: invalid"
    assert store.get(child.id).error == f"cancelled: parent {a.id} {said}"


def test_on_parent_failure_run_lets_it_run_once_every_parent_is_resolved(store: Store) -> None:
    a, b = store.create("a"), store.create("b")
    child = store.create("c", after=[a.id, b.id], on_parent_failure="run")
    store.fail(a.id, "boom")
    assert store.get(child.id).state == "blocked"
    store.fulfill(b.id, "B")
    lease = store.pull_work()
    assert lease is not None and lease.id == child.id
    assert [(p.id, p.state) for p in parents(store, lease.job)] == [(a.id, "failed"), (b.id, "fulfilled")]
    with pytest.raises(JobStateError, match=f"parent {a.id} of job {child.id} is failed"):
        parent_values(store, lease.job)
    lease.release()


def test_a_job_made_after_parents_already_resolved_is_settled_at_once(store: Store) -> None:
    done, failed = store.create("done"), store.create("failed")
    store.fulfill(done.id, "D")
    store.fail(failed.id, "boom")
    assert store.create("c", after=[done.id]).state == "pending"
    late = store.create("d", after=[done.id, failed.id])
    assert (late.state, late.error) == ("cancelled", f"cancelled: parent {failed.id} failed: boom")


def test_an_unknown_parent_is_refused_and_nothing_is_made(store: Store) -> None:
    a = store.create("a")
    missing = "01M8WH1BC6151J6DQXBKNNGCJ2"
    with pytest.raises(JobNotFound) as raised:
        store.create("c", after=[a.id, missing])
    assert isinstance(raised.value, UnknownParent) and raised.value.job_id == missing
    assert "no cycle can be made" in str(raised.value)
    assert [job.id for job in store.jobs()] == [a.id]
    with pytest.raises(ValueError, match="unique key"):
        store.create("c", after=[a.id], key="k")
    assert [job.id for job in store.jobs()] == [a.id]


def test_a_blocked_job_can_be_cancelled_and_is_not_run_later(store: Store) -> None:
    a = store.create("a")
    child = store.create("c", after=[a.id])
    store.queue(child.id, "told")
    assert store.cancel(child.id).state == "cancelled"
    store.fulfill(a.id, "A")
    assert store.get(child.id).state == "cancelled" and pulled_ids(store) == []


def test_a_parent_is_kept_by_purge_while_a_dependant_is_still_to_run(store: Store) -> None:
    a = store.create("a")
    child = store.create("c", after=[a.id])
    store.fulfill(a.id, "A")
    assert store.purge(older_than=0) == 0 and store.get(a.id).state == "fulfilled"
    lease = store.pull_work()
    assert lease is not None and lease.id == child.id
    lease.fulfill("C")
    assert store.purge(older_than=0) == 2


def test_workers_run_a_tree_in_order_and_handlers_read_their_parents(store: Store) -> None:
    fetched = [store.create({"fetch": n}, task="fetch") for n in range(3)]
    total = store.create({"sum": True}, task="sum", after=[job.id for job in fetched])
    report = store.create({"report": True}, task="report", after=[total.id])
    order: list[str] = []

    def fetch(job: Job) -> int:
        order.append(job.id)
        return int(job.request["fetch"]) * 10

    def add(job: Job) -> int:
        order.append(job.id)
        return sum(parent_values(store, job))

    def tell(job: Job) -> str:
        order.append(job.id)
        return f"total {parent_values(store, job)[0]}"

    Worker(store, {"fetch": fetch, "sum": add, "report": tell}, concurrency=2).run(burst=True)
    assert store.get(report.id).result == "total 30"
    assert set(order[:3]) == {job.id for job in fetched} and order[3:] == [total.id, report.id]


def test_blocked_jobs_are_listed_in_pages_in_creation_order_with_the_rest(store: Store) -> None:
    a = store.create("a", task="t")
    b = store.create("b", task="t", after=[a.id])
    c = store.create("c", task="u")
    d = store.create("d", task="t", after=[a.id, c.id])
    store.fulfill(c.id, "C")
    assert [job.id for job in store.jobs()] == [a.id, b.id, c.id, d.id]
    assert [job.id for job in store.jobs(newest_first=True, limit=3)] == [d.id, c.id, b.id]
    assert [job.id for job in store.jobs("blocked", task="t", after=b.id)] == [d.id]
    assert [job.id for job in store.jobs("blocked", limit=1)] == [b.id]
