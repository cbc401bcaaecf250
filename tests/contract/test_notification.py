"""Contract: waiting targets are handed out once a job is resolved, until delivered."""

from __future__ import annotations

import pytest
from backends import Backend

from fsjobstore.interface import NotificationHandle, Store


def resolved_with(store: Store, *targets: object) -> str:
    job = store.create("x")
    for target in targets:
        store.queue(job.id, target)
    lease = store.pull_work()
    assert lease is not None
    lease.fulfill("v")
    return job.id


def test_nothing_is_due_before_a_job_is_resolved(store: Store) -> None:
    job = store.create("x")
    store.queue(job.id, {"to": "a"})
    assert store.get(job.id).waiting == ({"to": "a"},)
    assert store.pull_notification() is None


def test_targets_are_handed_out_until_delivered(store: Store) -> None:
    job_id = resolved_with(store, {"to": "a"}, {"to": "b"})
    note = store.pull_notification()
    assert isinstance(note, NotificationHandle) and note.id == job_id
    assert note.value == b"v" and sorted(t["to"] for t in note.waiting) == ["a", "b"]
    note.done([{"to": "a"}])
    again = store.pull_notification()
    assert again is not None and again.waiting == [{"to": "b"}]
    again.done(again.waiting)
    assert store.pull_notification() is None
    assert store.get(job_id).waiting == ()
    assert store.stats()["due"] == 0


def test_a_target_queued_twice_waits_once_and_unqueue_removes_it(store: Store) -> None:
    job = store.create("x")
    store.queue(job.id, {"to": "a"})
    store.queue(job.id, {"to": "a"})
    assert store.get(job.id).waiting == ({"to": "a"},)
    store.unqueue(job.id, {"to": "a"})
    assert store.get(job.id).waiting == ()


def test_a_target_queued_on_a_resolved_job_is_due_at_once(store: Store) -> None:
    job_id = resolved_with(store)
    store.queue(job_id, "late")
    note = store.pull_notification()
    assert note is not None and note.waiting == ["late"]
    note.done(["late"])


def test_a_released_notification_stays_due(store: Store) -> None:
    resolved_with(store, "t")
    note = store.pull_notification()
    assert note is not None
    note.release()
    again = store.pull_notification()
    assert again is not None and again.waiting == ["t"]
    again.done(["t"])


def test_failed_deliveries_are_counted_and_a_target_is_given_up_at_the_limit(backend: Backend) -> None:
    store, other = backend.open(), backend.open()
    job_id = resolved_with(store, {"to": "a"}, {"to": "b"})
    for failures, client in ((1, store), (2, other)):  # the count is shared by every client of the store
        note = client.pull_notification()
        assert note is not None and len(note.waiting) == 2
        note.done([], failed=[({"to": "a"}, f"ConnectionError: try {failures}")], give_up_after=2)
        job = store.get(job_id)
        [entry] = job.failed_deliveries
        assert (entry["target"], entry["failures"], entry["last_error"]) == ({"to": "a"}, failures,
                                                                           f"ConnectionError: try {failures}")
        assert entry["last_failed_at"]
        assert entry["given_up"] is (failures == 2)
    assert store.get(job_id).waiting == ({"to": "b"},), "given up: no longer waiting"
    note = store.pull_notification()
    assert note is not None and note.waiting == [{"to": "b"}]
    note.done(note.waiting)
    assert store.pull_notification() is None and store.stats()["due"] == 0
    assert [e["given_up"] for e in store.get(job_id).failed_deliveries] == [True], "kept for show"
    store.queue(job_id, {"to": "a"})  # queued again: tried again, and forgotten once delivered
    note = store.pull_notification()
    assert note is not None and note.waiting == [{"to": "a"}]
    note.done(note.waiting)
    assert store.get(job_id).failed_deliveries == ()


def test_a_delivered_target_forgets_its_failures(store: Store) -> None:
    job_id = resolved_with(store, "t")
    note = store.pull_notification()
    assert note is not None
    note.done([], failed=[("t", "e")], give_up_after=5)
    assert store.get(job_id).failed_deliveries[0]["failures"] == 1
    note = store.pull_notification()
    assert note is not None
    note.done(["t"])
    assert store.get(job_id).failed_deliveries == () and store.get(job_id).waiting == ()


def test_bad_failure_arguments_are_refused_and_change_nothing(store: Store) -> None:
    job_id = resolved_with(store, "t")
    note = store.pull_notification()
    assert note is not None
    with pytest.raises(ValueError, match="give_up_after"):
        note.done(["t"], failed=[("t", "e")], give_up_after=0)
    with pytest.raises(TypeError, match="must be a str"):
        note.done(["t"], failed=[("t", 5)])  # type: ignore[list-item]
    note.release()
    assert store.get(job_id).waiting == ("t",) and store.get(job_id).failed_deliveries == ()
