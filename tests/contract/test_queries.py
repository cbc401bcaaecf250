"""Contract: listing, counting and waiting."""

from __future__ import annotations

from typing import Any

import pytest
from backends import called_later

from fsjobstore.errors import InvalidJobId, JobNotFound, JobStateError
from fsjobstore.interface import Store
from fsjobstore.job import STATES


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
    with called_later(0.2, lambda: store.cancel(job.id)):
        assert store.wait(job.id, timeout=10).state == "cancelled"


def test_purge_removes_resolved_jobs_and_check_counts_the_rest(store: Store) -> None:
    done = store.create("x")
    kept = store.create("y")
    store.cancel(done.id)
    assert store.purge(older_than=0) == 1
    assert [job.id for job in store.jobs()] == [kept.id]
    report = store.check()
    assert report.clean and report.counts["pending"] == 1


def test_jobs_pages_in_creation_order_with_filters_and_a_cursor(store: Store) -> None:
    made = [store.create({"n": n}, task="even" if n % 2 == 0 else "odd") for n in range(7)]
    ids = [job.id for job in made]
    store.fulfill(ids[2], "two")
    store.cancel(ids[5])
    assert [job.id for job in store.jobs()] == ids, "every state, in creation order"
    assert [job.id for job in store.jobs(newest_first=True)] == ids[::-1]
    # Pages of 3, each after the last id of the one before, cover every job once.
    pages: list[list[str]] = []
    after = None
    while page := [job.id for job in store.jobs(after=after, limit=3)]:
        pages.append(page)
        after = page[-1]
    assert pages == [ids[0:3], ids[3:6], ids[6:]]
    assert [job.id for job in store.jobs(newest_first=True, after=ids[4], limit=2)] == [ids[3], ids[2]]
    assert [job.id for job in store.jobs(task="even")] == ids[0::2]
    assert [job.id for job in store.jobs("pending", task="even")] == [ids[0], ids[4], ids[6]]
    assert [job.id for job in store.jobs("fulfilled", task="even")] == [ids[2]]
    assert [job.id for job in store.jobs("cancelled", task="even")] == []
    assert [job.id for job in store.jobs("pending", after=ids[3], limit=2)] == [ids[4], ids[6]]
    assert list(store.jobs(limit=0)) == []


@pytest.mark.parametrize("arguments", [{"state": "bogus"}, {"limit": -1}, {"limit": 1.5}, {"limit": True},
                                       {"after": 7}, {"task": ["t"]}, {"after": "no such/id"},
                                       {"after": "x" * 129}])
def test_jobs_refuses_bad_listing_arguments(store: Store, arguments: dict[str, Any]) -> None:
    store.create("x")
    with pytest.raises((ValueError, TypeError)) as raised:
        list(store.jobs(**arguments))
    name = next(iter(arguments))
    assert name in str(raised.value)


def test_delete_removes_a_resolved_job_with_its_targets_and_refuses_an_unresolved_one(store: Store) -> None:
    done = store.create("done")
    store.queue(done.id, {"inbox": 1})
    store.queue(done.id, "client-2")
    store.fulfill(done.id, "value")
    assert store.stats()["due"] == 1
    gone = store.delete(done.id)
    assert (gone.id, gone.state, gone.value) == (done.id, "fulfilled", b"value")
    assert gone.waiting == ({"inbox": 1}, "client-2")
    with pytest.raises(JobNotFound):
        store.get(done.id)
    with pytest.raises(JobNotFound):
        store.delete(done.id)
    assert store.pull_notification() is None, "its targets went with it"
    assert store.stats()["due"] == 0 and store.check().clean

    running = store.create("running")
    lease = store.pull_work()
    assert lease is not None and lease.id == running.id
    waiting = store.create("waiting")
    with pytest.raises(JobStateError, match="is pending: cancel it first"):
        store.delete(waiting.id)
    with pytest.raises(JobStateError, match="is running: cancel it first"):
        store.delete(lease.id)
    lease.fulfill("still mine")
    assert {job.id: job.state for job in store.jobs()} == {waiting.id: "pending", running.id: "fulfilled"}
    store.cancel(waiting.id)
    assert store.delete(waiting.id).state == "cancelled"
    with pytest.raises(InvalidJobId):
        store.delete("../escape")
    assert [job.id for job in store.jobs()] == [running.id]


def _counted(store: Store) -> dict[str, dict[str, int]]:
    """What reading every job gives, per task and state (tasks with jobs only)."""
    counts: dict[str, dict[str, int]] = {}
    for job in store.jobs():
        counts.setdefault(job.task or "", dict.fromkeys(STATES, 0))[job.state] += 1
    return counts


def test_counts_per_task_stay_those_of_every_job_through_every_change(store: Store) -> None:
    def check() -> None:
        counts, stats = store.stats_by_task(), store.stats()
        assert counts == _counted(store)
        assert {state: sum(by_state[state] for by_state in counts.values()) for state in STATES} == {
            state: stats[state] for state in STATES}, "they add up to stats()"

    mail = [store.create({"n": n}, task="mail") for n in range(4)]
    render = store.create("r", task="render", labels={"to": "gpu-box"}, priority=5)  # (a queue of its own)
    plain = store.create("no task")
    check()
    child = store.create("c", task="render", after=[plain.id])
    check()
    lease = store.pull_work(tasks=["mail"])
    assert lease is not None
    check()  # (one running)
    lease.fail("bounced", retry=True)
    check()
    store.fulfill(mail[1].id, "sent")
    store.fail(mail[2].id, "bounced")
    store.cancel(render.id)
    check()
    store.retry(mail[2].id)
    check()
    store.fulfill(plain.id, "done")  # (its child is released: pending)
    check()
    assert store.stats_by_task()["render"]["pending"] == 1 and store.get(child.id).state == "pending"
    store.delete(mail[1].id)
    check()
    store.cancel(child.id)
    check()
    assert store.purge(older_than=0) == 3  # (render's, plain and its child)
    check()
    assert set(store.stats_by_task()) == {"mail"}, "a task without jobs is left out"
