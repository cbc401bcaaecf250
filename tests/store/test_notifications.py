"""Waiting targets: queue / unqueue, pull_notification and done, and the notify callable."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest
from invariants import plain_repr

from fsjobstore import (
    InvalidJobId,
    Job,
    JobNotFound,
    JobStore,
    LeaseLost,
    NotificationLease,
)
from fsjobstore._store.notification import Notification

Snapshot = Callable[[Any], dict[str, bytes | None]]


def due_markers(store: JobStore) -> list[str]:
    return sorted(os.listdir(os.path.join(store.path, "due")))


# -- queue / unqueue --------------------------------------------------------------------


def test_queue_on_a_pending_job_shows_in_waiting_and_is_not_due(store: JobStore) -> None:
    job = store.create("x")
    store.queue(job.id, "alice")
    store.queue(job.id, {"chat": 7, "user": "bob"})
    assert store.get(job.id).waiting == ("alice", {"chat": 7, "user": "bob"})
    assert store.pull_notification() is None
    assert store.stats()["due"] == 0
    assert due_markers(store) == []


def test_queue_is_idempotent_by_json_value(store: JobStore) -> None:
    job = store.create("x")
    store.queue(job.id, {"a": 1, "b": [1, 2]})
    store.queue(job.id, {"b": [1, 2], "a": 1})  # same value, other key order
    store.queue(job.id, {"a": 1, "b": [1, 2]})
    store.queue(job.id, "t")
    store.queue(job.id, "t")
    assert store.get(job.id).waiting == ({"a": 1, "b": [1, 2]}, "t")
    store.queue(job.id, 1)
    store.queue(job.id, 1.0)  # another JSON value than 1
    store.queue(job.id, True)
    assert len(store.get(job.id).waiting) == 5


def test_waiting_targets_are_kept_oldest_first(store: JobStore) -> None:
    job = store.create("x")
    targets = ["c", "a", "b", {"z": 1}, None, 0]
    for target in targets:
        store.queue(job.id, target)
    assert list(store.get(job.id).waiting) == targets
    store.fulfill(job.id, "v")
    note = store.pull_notification()
    assert note.waiting == targets
    note.release()


def test_queue_unknown_job(store: JobStore, snapshot: Snapshot) -> None:
    before = snapshot(store.path)
    with pytest.raises(JobNotFound):
        store.queue("0" * 26, "t")
    with pytest.raises(JobNotFound):
        store.unqueue("0" * 26, "t")
    with pytest.raises(JobNotFound):
        store.unqueue_all("0" * 26, ["t"])
    with pytest.raises(InvalidJobId):
        store.queue("../x", "t")
    assert snapshot(store.path) == before


NOT_JSON = [object(), {1, 2}, b"t", float("nan"), float("-inf"), {"a": float("nan")}, {(1,): 2}]


@pytest.mark.parametrize("bad", NOT_JSON, ids=plain_repr)
def test_a_non_json_target_is_refused_writing_nothing(store: JobStore, bad: Any, snapshot: Snapshot) -> None:
    job = store.create("x")
    store.queue(job.id, "kept")
    before = snapshot(store.path)
    with pytest.raises(TypeError):
        store.queue(job.id, bad)
    with pytest.raises(TypeError):
        store.unqueue(job.id, bad)
    with pytest.raises(TypeError):
        store.unqueue_all(job.id, ["kept", bad])
    assert snapshot(store.path) == before
    assert store.get(job.id).waiting == ("kept",)


def test_a_target_with_mixed_key_types_is_refused_writing_nothing_or_accepted(
    store: JobStore, snapshot: Snapshot
) -> None:
    # {1: "a", "b": 2} serialises (keys become strings) but cannot be sorted to a
    # canonical spelling: whichever the store decides, a refusal must write nothing.
    job = store.create("x")
    before = snapshot(store.path)
    try:
        store.queue(job.id, {1: "a", "b": 2})
    except TypeError:
        assert snapshot(store.path) == before
    else:
        assert store.get(job.id).waiting == ({"1": "a", "b": 2},)


def test_queue_before_and_after_fulfil(store: JobStore) -> None:
    job = store.create("x")
    store.queue(job.id, "before")
    assert store.pull_notification() is None
    store.fulfill(job.id, "result")
    assert store.stats()["due"] == 1
    store.queue(job.id, "after")
    assert store.get(job.id).waiting == ("before", "after")
    note = store.pull_notification()
    assert isinstance(note, NotificationLease)
    assert note.id == job.id
    assert note.value == b"result"
    assert note.waiting == ["before", "after"]
    assert note.job.state == "fulfilled" and note.job.value == b"result"
    assert note.compromised is False
    note.done(["before", "after"])
    assert note.released
    assert store.get(job.id).waiting == ()
    assert store.stats()["due"] == 0
    assert due_markers(store) == []
    assert store.pull_notification() is None
    assert os.listdir(os.path.join(store.path, "waiting")) == []


def test_queue_on_a_resolved_job_without_targets_makes_it_due(store: JobStore) -> None:
    job = store.create("x")
    store.fulfill(job.id, "v")
    assert store.pull_notification() is None
    store.queue(job.id, "late")
    note = store.pull_notification()
    assert note is not None and note.id == job.id and note.waiting == ["late"]
    note.done(["late"])


def test_unqueue_and_unqueue_all(store: JobStore) -> None:
    job = store.create("x")
    for target in ("a", "b", {"k": 1, "j": 2}, "d"):
        store.queue(job.id, target)
    store.unqueue(job.id, "b")
    store.unqueue(job.id, "never queued")  # no error
    assert store.get(job.id).waiting == ("a", {"k": 1, "j": 2}, "d")
    store.unqueue_all(job.id, [{"j": 2, "k": 1}, "d", "zzz"])  # key order does not matter
    assert store.get(job.id).waiting == ("a",)
    store.unqueue_all(job.id, [])
    assert store.get(job.id).waiting == ("a",)
    store.unqueue_all(job.id, iter(["a"]))
    assert store.get(job.id).waiting == ()
    assert os.listdir(os.path.join(store.path, "waiting")) == []


def test_unqueue_on_a_due_job(store: JobStore) -> None:
    job = store.create("x")
    store.queue(job.id, "a")
    store.queue(job.id, "b")
    store.fulfill(job.id, "v")
    store.unqueue(job.id, "a")
    note = store.pull_notification()
    assert note.waiting == ["b"]
    note.release()
    store.unqueue(job.id, "b")
    assert store.pull_notification() is None


def test_unqueueing_every_target_means_nothing_is_due(store: JobStore) -> None:
    job = store.create("x")
    store.queue(job.id, "a")
    store.fulfill(job.id, "v")
    assert store.stats()["due"] == 1
    store.unqueue_all(job.id, ["a"])
    assert store.get(job.id).waiting == ()
    assert store.stats()["due"] == 0
    assert store.pull_notification() is None
    assert store.stats()["due"] == 0


# -- pull_notification / done ------------------------------------------------------------


def test_pull_notification_on_an_empty_store_is_none(store: JobStore) -> None:
    assert store.pull_notification() is None
    store.create("x")
    assert store.pull_notification() is None


def test_a_failed_job_with_targets_is_due_with_no_value(store: JobStore) -> None:
    job = store.create("x")
    store.queue(job.id, "t")
    store.fail(job.id, "boom")
    note = store.pull_notification()
    assert note is not None and note.id == job.id
    assert note.value is None
    assert note.job.state == "failed" and note.job.error == "boom"
    assert note.waiting == ["t"]
    note.done(["t"])
    assert store.pull_notification() is None


def test_a_retried_job_is_not_due(store: JobStore) -> None:
    job = store.create("x")
    store.queue(job.id, "t")
    store.fail(job.id, "again", retry=True)
    assert store.pull_notification() is None
    assert store.stats()["due"] == 0


def test_done_removes_exactly_the_delivered_targets(store: JobStore) -> None:
    job = store.create("x")
    for target in ("a", "b", "c", {"d": [1]}):
        store.queue(job.id, target)
    store.fulfill(job.id, "v")
    note = store.pull_notification()
    note.done(["b", {"d": [1]}])
    assert store.get(job.id).waiting == ("a", "c")
    assert store.stats()["due"] == 1
    note = store.pull_notification()
    assert note is not None and note.waiting == ["a", "c"]
    note.done([])
    note = store.pull_notification()
    assert note is not None and note.waiting == ["a", "c"]
    note.done(["a", "c", "not waiting"])
    assert store.get(job.id).waiting == ()
    assert store.pull_notification() is None


def test_done_removes_a_delivered_target_queued_after_the_pull(store: JobStore) -> None:
    job = store.create("x")
    store.queue(job.id, "a")
    store.fulfill(job.id, "v")
    note = store.pull_notification()
    store.queue(job.id, "b")
    note.done(["a"])
    assert store.get(job.id).waiting == ("b",)
    again = store.pull_notification()
    assert again is not None and again.waiting == ["b"]
    again.done(["b"])
    assert store.get(job.id).waiting == ()


def test_a_notification_lease_is_exclusive(open_store: Callable[..., JobStore]) -> None:
    first, second = open_store(), open_store()
    one, two = first.create(1), first.create(2)
    for job in (one, two):
        first.queue(job.id, "t")
        first.fulfill(job.id, "v")
    a = first.pull_notification()
    b = second.pull_notification()
    assert a is not None and b is not None and {a.id, b.id} == {one.id, two.id}
    assert first.pull_notification() is None
    assert second.pull_notification() is None
    a.release()
    c = second.pull_notification()
    assert c is not None and c.id == a.id
    b.release()
    c.release()


def test_notification_lease_context_manager_and_release(store: JobStore) -> None:
    job = store.create("x")
    store.queue(job.id, "t")
    store.fulfill(job.id, "v")
    with store.pull_notification() as note:
        assert store.pull_notification() is None
    assert note.released
    note.release()  # idempotent
    assert store.get(job.id).waiting == ("t",)
    again = store.pull_notification()
    assert again is not None and again.id == job.id
    again.release()


def test_done_after_release_or_done_is_refused_and_changes_nothing(store: JobStore, snapshot: Snapshot) -> None:
    job = store.create("x")
    store.queue(job.id, "a")
    store.queue(job.id, "b")
    store.fulfill(job.id, "v")
    note = store.pull_notification()
    note.release()
    before = snapshot(store.path)
    with pytest.raises(LeaseLost):
        note.done(["a"])
    assert snapshot(store.path) == before
    note = store.pull_notification()
    note.done(["a"])
    with pytest.raises(LeaseLost):
        note.done(["b"])
    note.release()
    assert store.get(job.id).waiting == ("b",)


def test_notifications_of_many_jobs(store: JobStore) -> None:
    made = [store.create(n) for n in range(12)]
    for job in made:
        store.queue(job.id, ["to", job.request])
        store.fulfill(job.id, str(job.request))
    seen = []
    while (note := store.pull_notification()) is not None:
        assert note.value == str(note.job.request).encode()
        seen.append(note.id)
        note.done(note.waiting)
    assert sorted(seen) == sorted(job.id for job in made)
    assert store.stats()["due"] == 0


# -- the notify callable -------------------------------------------------------------------


def test_notify_delivers_at_fulfil_and_removes_the_delivered(open_store: Callable[..., JobStore]) -> None:
    calls: list[tuple[Any, Job]] = []
    store = open_store(notify=lambda target, job: calls.append((target, job)))
    job = store.create("x")
    store.queue(job.id, "a")
    store.queue(job.id, {"b": 1})
    assert calls == []  # nothing to tell before the result exists
    done = store.fulfill(job.id, "result")
    assert [target for target, _ in calls] == ["a", {"b": 1}]
    for _, told in calls:
        assert told.id == job.id and told.state == "fulfilled" and told.value == b"result"
    assert done.waiting == ()
    assert store.get(job.id).waiting == ()
    assert store.stats()["due"] == 0
    assert store.pull_notification() is None


def test_notify_on_queue_after_fulfil(open_store: Callable[..., JobStore]) -> None:
    calls: list[Any] = []
    store = open_store(notify=lambda target, job: calls.append((target, job.value)))
    job = store.create("x")
    store.fulfill(job.id, "v")
    assert calls == []
    store.queue(job.id, "late")
    assert calls == [("late", b"v")]
    assert store.get(job.id).waiting == ()
    pending = store.create("y")
    store.queue(pending.id, "early")
    assert calls == [("late", b"v")]  # not resolved yet: nothing to tell
    assert store.get(pending.id).waiting == ("early",)


def test_notify_that_raises_leaves_those_targets_due(open_store: Callable[..., JobStore]) -> None:
    delivered: list[Any] = []

    def notify(target: Any, job: Job) -> None:
        if target == "down":
            raise ConnectionError("unreachable")
        delivered.append(target)

    store = open_store(notify=notify)
    job = store.create("x")
    for target in ("up", "down", "also up"):
        store.queue(job.id, target)
    done = store.fulfill(job.id, "v")
    assert delivered == ["up", "also up"]
    assert done.waiting == ("down",)
    assert store.get(job.id).waiting == ("down",)
    assert store.stats()["due"] == 1
    note = store.pull_notification()
    assert note is not None and note.waiting == ["down"]
    note.done(["down"])
    assert store.pull_notification() is None


def test_notify_that_always_raises_keeps_everything_for_the_pull_loop(open_store: Callable[..., JobStore]) -> None:
    def notify(target: Any, job: Job) -> None:
        raise RuntimeError("no network")

    store = open_store(notify=notify)
    job = store.create("x")
    store.queue(job.id, "a")
    store.fail(job.id, "broken")
    store.queue(job.id, "b")
    assert store.get(job.id).waiting == ("a", "b")
    note = store.pull_notification()
    assert note is not None and note.value is None and note.waiting == ["a", "b"]
    note.release()


def test_notify_is_skipped_while_a_notifier_holds_the_job(open_store: Callable[..., JobStore]) -> None:
    calls: list[Any] = []
    store = open_store(notify=lambda target, job: calls.append(target))
    puller = open_store()
    job = store.create("x")
    store.queue(job.id, "a")
    puller_note = None
    # Make the job due without pushing: fulfil through the store without notify.
    puller.fulfill(job.id, "v")
    puller_note = puller.pull_notification()
    assert puller_note is not None
    store.queue(job.id, "b")
    assert calls == []  # the notifier holding the lease delivers, not us
    puller_note.done(["a", "b"])
    assert store.get(job.id).waiting == ()


# -- failed deliveries ---------------------------------------------------------------------


def _fail_once(store: JobStore, target: Any, give_up_after: int | None = None) -> None:
    note = store.pull_notification()
    assert note is not None
    note.done([], failed=[(target, "ConnectionError: refused")], give_up_after=give_up_after)


def test_a_failed_delivery_is_written_in_the_targets_file_and_a_given_up_one_beside_it(store: JobStore) -> None:
    job = store.create("x")
    store.queue(job.id, "t")
    store.fulfill(job.id, "v")
    folder = os.path.join(store.path, "waiting", job.id)
    [name] = os.listdir(folder)
    _fail_once(store, "t", give_up_after=2)
    with open(os.path.join(folder, name)) as file:
        fields = json.load(file)
    assert (fields["target"], fields["failures"], fields["last_error"]) == ("t", 1, "ConnectionError: refused")
    assert fields["queued_at"] and fields["last_failed_at"]
    _fail_once(store, "t", give_up_after=2)
    key = name.removesuffix(".json")
    assert os.listdir(folder) == [key + ".undelivered"], "given up: out of the waiting targets, kept beside them"
    assert due_markers(store) == [] and store.pull_notification() is None
    report = store.check()
    assert report.clean and report.problems == [], "a given-up target is a name the store uses"


def test_a_job_with_only_given_up_targets_is_not_made_due_again_and_is_purged_with_them(
    open_store: Callable[..., JobStore],
) -> None:
    store = open_store(lease_seconds=0.2)
    job = store.create("x")
    store.queue(job.id, "t")
    store.fulfill(job.id, "v")
    _fail_once(store, "t", give_up_after=1)
    Notification(store.context).heal()  # (the look for jobs that should be due, made at once)
    assert due_markers(store) == []
    assert store.purge(older_than=0) == 1
    assert not os.path.exists(os.path.join(store.path, "waiting", job.id))
    with pytest.raises(JobNotFound):
        store.get(job.id)


def test_the_store_notify_callable_counts_its_failures(open_store: Callable[..., JobStore]) -> None:
    def notify(target: Any, job: Job) -> None:
        raise ConnectionError("refused")

    store = open_store(notify=notify)
    job = store.create("x")
    store.queue(job.id, "t")
    store.fulfill(job.id, "v")
    [failure] = store.get(job.id).failed_deliveries
    assert (failure["failures"], failure["given_up"], failure["last_error"]) == (1, False, "ConnectionError: refused")
    assert store.get(job.id).waiting == ("t",), "still waiting for a notifier"
