"""Contract: pauses of a task or of the whole store, the leases held, and freeze/thaw
built on them, the same over every store of the interface. A pause made by one
client stops the others' pulls within PAUSE_SEEN_WITHIN."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from backends import Backend, called_later

from fsjobstore import Notifier, Worker
from fsjobstore.interface import PAUSE_SEEN_WITHIN, Pause, Store
from fsjobstore.loops.freeze import freeze


def _eventually(check: Callable[[], Any], within: float = PAUSE_SEEN_WITHIN + 2) -> Any:
    """check() once it is true (a pause made by another client is seen within a bound)."""
    deadline = time.monotonic() + within
    while not (result := check()):
        assert time.monotonic() < deadline, "not seen within the bound"
        time.sleep(0.02)
    return result


def test_a_paused_task_is_not_pulled_by_any_client_until_resumed(backend: Backend) -> None:
    operator, worker = backend.open(), backend.open()
    resize = operator.create("r", task="resize")
    other = operator.create("o", task="mail")
    pause = operator.pause("resize", reason="new release")
    assert (pause.task, pause.reason) == ("resize", "new release")
    assert [(p.task, p.reason) for p in worker.pauses()] == [("resize", "new release")]
    assert worker.pull_work(tasks=["resize"]) is None
    lease = worker.pull_work()
    assert lease is not None and lease.id == other.id  # the other task goes on
    lease.release()
    assert worker.pull_work(tasks=["resize", "mail"]).id == other.id  # type: ignore[union-attr]
    assert operator.resume("resize") is True
    assert operator.resume("resize") is False
    lease = _eventually(lambda: worker.pull_work(tasks=["resize"]))
    assert lease.id == resize.id
    lease.release()


def test_a_paused_store_hands_out_no_work_and_no_notification(backend: Backend) -> None:
    operator, client = backend.open(), backend.open()
    done = operator.create("x")
    operator.queue(done.id, "target")
    operator.fulfill(done.id, "v")
    job = operator.create("y", task="t")
    operator.pause()
    operator.pause("t")  # a task pause stays when the store resumes
    assert [p.task for p in client.pauses()] == [None, "t"]
    assert client.pull_work() is None and client.pull_notification() is None
    assert operator.resume() is True
    note = _eventually(client.pull_notification)
    note.release()
    assert client.pull_work() is None  # task t is still paused
    operator.resume("t")
    assert _eventually(client.pull_work).id == job.id


def test_pausing_bad_input_is_refused(store: Store) -> None:
    for bad in ("", 3):
        with pytest.raises(TypeError, match="task must be a non-empty string"):
            store.pause(bad)  # type: ignore[arg-type]
    assert store.pauses() == []


def test_holdings_name_the_leases_held(store: Store) -> None:
    job = store.create("x")
    assert store.holdings() == []
    lease = store.pull_work()
    assert lease is not None
    held = store.holdings()
    assert [(h.kind, h.job_id) for h in held] == [("work", job.id)]
    lease.release()
    assert store.holdings() == []


def test_freeze_waits_for_running_work_then_thaw_resumes(backend: Backend) -> None:
    operator, worker_store = backend.open(), backend.open()
    job = operator.create("slow")
    lease = worker_store.pull_work()
    assert lease is not None and lease.id == job.id
    later = operator.create("later")
    with called_later(0.5, lambda: lease.fulfill("done")):
        assert freeze(operator, timeout=30) == []
    assert operator.get(job.id).state == "fulfilled"
    assert worker_store.pull_work() is None  # frozen
    assert operator.resume() is True  # thaw
    assert _eventually(worker_store.pull_work).id == later.id


def test_freeze_reports_who_still_holds_a_lease_and_stays_paused(store: Store) -> None:
    job = store.create("x")
    lease = store.pull_work()
    assert lease is not None
    held = freeze(store, timeout=0)
    assert [(h.kind, h.job_id) for h in held] == [("work", job.id)]
    assert [p.task for p in store.pauses()] == [None]
    lease.release()


def test_workers_say_they_are_paused_in_their_heartbeat(backend: Backend) -> None:
    store = backend.open()
    store.pause("resize", reason="maintenance")
    worker = Worker(store, {"resize": lambda job: "ok"}, poll_interval=0.05)
    notifier = Notifier(store, lambda target, job: None, poll_interval=0.05)
    threads = [threading.Thread(target=loop.run) for loop in (worker, notifier)]
    for thread in threads:
        thread.start()
    try:
        def kinds_paused() -> dict[str, str | None]:
            found = {info.kind: info.paused for info in store.workers() if info.beats > 0}
            return found if len(found) == 2 else {}

        seen = _eventually(kinds_paused, within=10)
        assert seen == {"worker": "every task it does: resize", "notifier": None}
        store.resume("resize")
        store.pause(reason="moving")
        _eventually(lambda: {info.paused for info in store.workers()} == {"the whole store (moving)"}, within=10)
    finally:
        worker.stop()
        notifier.stop()
        for thread in threads:
            thread.join()


def test_a_beat_tells_the_pauses_in_force(backend: Backend) -> None:
    operator, loop = backend.open(), backend.open()
    record = loop.register_worker("worker", ["mail"], 1)
    try:
        assert record.beat([]) == []
        operator.pause("mail", reason="relay down")
        operator.pause()

        def both() -> list[Pause] | None:
            beaten = record.beat([])
            return beaten if len(beaten) == 2 else None

        told = _eventually(both)
        assert [(p.task, p.reason) for p in told] == [(None, None), ("mail", "relay down")]
        assert told == loop.pauses()
    finally:
        record.close()


def test_a_resource_runs_as_many_jobs_at_once_as_its_limit(backend: Backend) -> None:
    operator, pullers = backend.open(), [backend.open(), backend.open()]
    for n in range(5):
        operator.create(n, resource="gpu")
    first = pullers[0].pull_work()
    assert first is not None and pullers[1].pull_work() is None  # one at a time by default
    operator.set_limit(3, resource="gpu")
    assert [(entry.kind, entry.name, entry.limit) for entry in pullers[1].limits()] == [("resource", "gpu", 3)]
    more = [_eventually(pullers[n % 2].pull_work) for n in range(2)]
    assert all(puller.pull_work() is None for puller in pullers)  # three running: the limit
    first.release()
    freed = _eventually(pullers[1].pull_work)
    assert freed.job.resource == "gpu"
    for lease in (*more, freed):
        lease.release()
    operator.set_limit(None, resource="gpu")
    assert operator.limits() == []


def test_a_task_cap_holds_whatever_the_resources(backend: Backend) -> None:
    operator, puller = backend.open(), backend.open()
    operator.set_limit(2, task="resize")
    for n in range(4):
        operator.create(n, task="resize", resource=f"disk-{n}")
    other = operator.create("o", task="mail")
    held = [puller.pull_work(tasks=["resize"]) for _ in range(3)]
    assert [lease is not None for lease in held] == [True, True, False]
    lease = puller.pull_work()
    assert lease is not None and lease.id == other.id  # other tasks go on
    lease.release()
    for lease in held:
        if lease is not None:
            lease.release()


def test_limits_refuse_bad_input(store: Store) -> None:
    with pytest.raises(TypeError, match="give one of the two"):
        store.set_limit(2)
    with pytest.raises(TypeError, match="give one of the two"):
        store.set_limit(2, resource="r", task="t")
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ValueError, match="limit must be"):
            store.set_limit(bad, resource="r")  # type: ignore[arg-type]
    assert store.limits() == []
