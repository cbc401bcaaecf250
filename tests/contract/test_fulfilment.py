"""Contract: creating jobs, leasing them, and resolving them at most once."""

from __future__ import annotations

import json
import threading
import time

import pytest
from backends import LEASE, Backend

from fsjobstore import InvalidJobId, JobAlreadyResolved, JobNotFound, JobStateError, LeaseLost
from fsjobstore.interface import Store, WorkHandle


def test_a_created_job_is_pending_and_readable(store: Store) -> None:
    job = store.create({"n": 1}, task="square")
    assert job.state == "pending" and job.request == {"n": 1} and job.task == "square"
    again = store.get(job.id)
    assert (again.id, again.state, again.request, again.attempts) == (job.id, "pending", {"n": 1}, 0)


def test_unknown_and_invalid_ids_are_told_apart(store: Store) -> None:
    with pytest.raises(JobNotFound):
        store.get("01ABSENTABSENTABSENTABSENT")
    with pytest.raises(InvalidJobId):
        store.get("../escape")


def test_a_leased_job_is_running_and_handed_to_nobody_else(backend: Backend) -> None:
    one, other = backend.open(), backend.open()
    job = one.create("x")
    lease = one.pull_work()
    assert isinstance(lease, WorkHandle) and lease.id == job.id and lease.request == "x"
    assert one.get(job.id).state == "running"
    assert other.pull_work() is None
    lease.release()
    assert one.get(job.id).state == "pending"
    again = other.pull_work()
    assert again is not None and again.id == job.id
    again.release()


def test_fulfil_through_the_lease_resolves_once(backend: Backend) -> None:
    store = backend.open()
    job = store.create("x")
    lease = store.pull_work()
    assert lease is not None
    done = lease.fulfill("value")
    assert done.state == "fulfilled" and done.value == b"value"
    assert store.get(job.id).value == b"value"
    with pytest.raises(JobAlreadyResolved):
        store.fulfill(job.id, "again")
    with pytest.raises(JobAlreadyResolved):
        store.cancel(job.id)
    assert store.pull_work() is None


def test_a_retried_failure_counts_an_attempt_and_a_final_one_resolves(store: Store) -> None:
    job = store.create("x")
    lease = store.pull_work()
    assert lease is not None
    assert lease.fail("try again", retry=True).state == "pending"
    assert store.get(job.id).attempts == 1
    lease = store.pull_work()
    assert lease is not None and lease.attempts == 1
    failed = lease.fail(RuntimeError("boom"))
    assert failed.state == "failed" and failed.attempts == 2 and failed.error == "RuntimeError: boom"


def test_a_delayed_retry_is_passed_over_and_its_due_time_is_told(store: Store) -> None:
    job = store.create("x")
    lease = store.pull_work()
    assert lease is not None
    lease.fail("later", retry=True, delay=0.6)
    assert store.pull_work() is None
    due = store.next_work_due()
    assert due is not None and due <= 0.6  # (0 or less once the delay is over: a loaded machine)
    time.sleep(max(due, 0.0) + 0.05)
    deadline = time.monotonic() + 10  # (a round trip may take a while on a loaded machine)
    while (again := store.pull_work()) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert again is not None and again.id == job.id
    again.release()


def test_tasks_select_what_a_worker_takes(store: Store) -> None:
    store.create("a", task="resize")
    plain = store.create("b")
    assert store.pull_work(tasks=["fetch"]) is None
    lease = store.pull_work(tasks=[None])
    assert lease is not None and lease.id == plain.id
    lease.release()


def test_cancel_and_retry(store: Store) -> None:
    job = store.create("x")
    assert store.cancel(job.id).state == "cancelled"
    with pytest.raises(JobAlreadyResolved):
        store.cancel(job.id)
    retried = store.retry(job.id)
    assert retried.state == "pending" and retried.attempts == 0
    with pytest.raises(JobStateError):
        store.retry(job.id)


def test_a_silent_holder_loses_its_lease_and_cannot_commit(backend: Backend) -> None:
    hung, healthy = backend.open(), backend.open()
    job = hung.create("x")
    lost = threading.Event()
    stale = hung.pull_work(on_compromised=lambda lease: lost.set())
    assert stale is not None
    backend.silence(hung)
    deadline = time.monotonic() + 10 * LEASE
    taken = None
    while taken is None and time.monotonic() < deadline:
        taken = healthy.pull_work()
        time.sleep(0.05)
    assert taken is not None and taken.id == job.id, "the silent holder's lease never expired"
    assert taken.attempts == 1  # the silent holder's attempt counts
    with pytest.raises(LeaseLost):
        stale.fulfill("late")
    assert lost.is_set() and stale.compromised and stale.loss is not None
    assert taken.fulfill("in time").value == b"in time"
    assert healthy.get(job.id).value == b"in time"


def test_a_cancelled_jobs_holder_is_told_and_its_commit_changes_nothing(store: Store) -> None:
    job = store.create("x")
    told = threading.Event()
    lease = store.pull_work(on_compromised=lambda held: told.set())
    assert lease is not None
    store.cancel(job.id)
    assert told.wait(10 * LEASE), "the holder was never told of the cancellation"
    with pytest.raises((LeaseLost, JobAlreadyResolved)):
        lease.fulfill("late")
    assert store.get(job.id).state == "cancelled"


def test_giving_up_without_counting_an_attempt(store: Store) -> None:
    job = store.create("x")
    lease = store.pull_work()
    assert lease is not None
    lease.fail("once", retry=True)
    lease = store.pull_work()
    assert lease is not None
    done = lease.fail("gave up", attempt=False)
    assert (done.state, done.attempts) == ("failed", 1)
    assert store.get(job.id).attempts == 1


@pytest.mark.parametrize("value", [{"rows": 3, "ok": True}, [1, "two", None], 42, 1.5, None, "text", b"\xff\x00"],
                         ids=["object", "list", "int", "float", "null", "str", "bytes"])
def test_a_value_is_given_back_as_it_was_given(backend: Backend, value: object) -> None:
    store, reader = backend.open(), backend.open()
    job = store.create("x")
    lease = store.pull_work()
    assert lease is not None
    done = lease.fulfill(value)
    for seen in (done, reader.get(job.id)):
        assert seen.result == value
        if isinstance(value, (str, bytes)):
            assert seen.value == (value.encode() if isinstance(value, str) else value)
        else:
            assert seen.value_encoding == "json" and seen.value is not None
            assert json.loads(seen.value) == value  # (the value's JSON text, as `text` shows it)
    by_hand = store.create("y")
    assert store.fulfill(by_hand.id, value).result == value
