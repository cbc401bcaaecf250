"""Contract: waiting targets are handed out once a job is resolved, until delivered."""

from __future__ import annotations

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
