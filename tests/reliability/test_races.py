"""Races inside one store and one process: threads and forks.

* One commit per lease, ever: two threads committing through one WorkLease, in
  every combination of fulfil and fail, never both succeed.
* ``purge`` racing ``retry`` never loses the job retry returned as pending, and
  ``purge`` racing ``queue`` never strands a target: it is delivered, or ``queue``
  raised; ``delete`` racing ``queue`` leaves no target of a job that is gone, and
  racing ``retry`` one of the two wins.
* A fork while another thread is inside ``pull_work`` leaves the child a store it
  can pull from.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from invariants import pending_file

from fsjobstore import JobAlreadyResolved, JobBusy, JobNotFound, JobStateError, JobStore, LeaseLost, WorkLease
from fsjobstore._files import fsio

TRIALS = 60

COMMITS: dict[str, Callable[[WorkLease], Any]] = {
    "fulfill": lambda lease: lease.fulfill("v"),
    "fail": lambda lease: lease.fail("e"),
    "retry": lambda lease: lease.fail("e", retry=True),
}


def _both(first: Callable[[], Any], second: Callable[[], Any]) -> list[BaseException | None]:
    """Run two calls in two threads started together; what each raised (None: returned)."""
    barrier = threading.Barrier(2)
    outcomes: list[BaseException | None] = [None, None]

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - inspected by the test
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.parametrize("pair", [("fulfill", "retry"), ("retry", "retry"), ("fulfill", "fail"),
                                  ("fulfill", "fulfill")], ids="-".join)
def test_two_threads_committing_through_one_lease_one_succeeds(tmp_path: Path, pair: tuple[str, str],
                                                               record_property: Callable[[str, object], None]) -> None:
    record_property("cases", TRIALS)
    with JobStore(tmp_path / "store", durable=False, watch=False, create=True) as store:
        for _ in range(TRIALS):
            job = store.create("x").id
            lease = store.pull_work()
            assert lease is not None and lease.id == job
            outcomes = _both(partial(COMMITS[pair[0]], lease), partial(COMMITS[pair[1]], lease))
            assert outcomes.count(None) == 1, outcomes
            loser = next(exc for exc in outcomes if exc is not None)
            assert isinstance(loser, (LeaseLost, JobAlreadyResolved)), loser
            got = store.get(job)
            winner = pair[outcomes.index(None)]
            assert got.state == {"fulfill": "fulfilled", "fail": "failed", "retry": "pending"}[winner]
            assert got.attempts == (0 if winner == "fulfill" else 1)
            pending = Path(pending_file(tmp_path / "store", job)).exists()
            assert pending == (winner == "retry"), "a pending record beside the resolved one"
            if winner == "retry":
                store.cancel(job)


def test_a_fork_while_another_thread_is_inside_pull_work_leaves_the_child_a_working_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with JobStore(tmp_path / "store", durable=False, watch=False, create=True) as store:
        first = store.create("held by the parent's thread").id
        inside, leave = threading.Event(), threading.Event()
        read = fsio.read

        def read_slowly(path: str) -> bytes:
            if first in str(path) and not inside.is_set():
                inside.set()
                leave.wait()
            return read(path)

        monkeypatch.setattr(fsio, "read", read_slowly)
        puller = threading.Thread(target=store.pull_work)
        puller.start()
        try:
            assert inside.wait(10)
            second = store.create("for the child").id
            pid = os.fork()
            if pid == 0:  # the child: pull, and report by exit status only
                lease = store.pull_work()
                os._exit(0 if lease is not None and lease.id == second else 3)
            deadline = time.monotonic() + 10
            while (status := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            if status[0] == 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail("the child deadlocked in pull_work (the pull lock a parent's thread held)")
            assert os.waitstatus_to_exitcode(status[1]) == 0
        finally:
            leave.set()
            puller.join()


def test_purge_racing_retry_never_loses_the_job_retry_returned(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record_property: Callable[[str, object], None]) -> None:
    record_property("cases", TRIALS)
    remove = fsio.remove

    def remove_slowly(path: str) -> bool:
        if "/due/" in str(path):
            time.sleep(0.002)  # widen the window between purge's first and last steps
        return remove(path)

    monkeypatch.setattr(fsio, "remove", remove_slowly)
    with JobStore(tmp_path / "store", durable=False, watch=False, create=True) as store:
        for _ in range(TRIALS):
            job = store.create("x").id
            store.fail(job, "e")
            retried, purged = _both(lambda: store.retry(job), lambda: store.purge(older_than=0))  # noqa: B023
            assert purged is None, purged
            if retried is None:
                assert store.get(job).state == "pending", "retry returned the job as pending"
                store.cancel(job)
            else:  # purged first, or the purge held the job
                assert isinstance(retried, (JobNotFound, JobBusy)), retried
        store.purge(older_than=0)
        assert list(store.jobs()) == []


@pytest.mark.parametrize("widened", [False, True], ids=["plain", "widened"])
def test_purge_racing_queue_delivers_the_target_or_queue_raises(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record_property: Callable[[str, object], None],
        widened: bool) -> None:
    record_property("cases", TRIALS)
    if widened:  # queue's look at the pending record takes long: a purge puts the result back meanwhile
        exists = fsio.exists

        def exists_slowly(path: str) -> bool:
            if "/pending/" in str(path):
                time.sleep(0.002)
            return exists(path)

        monkeypatch.setattr(fsio, "exists", exists_slowly)
    with JobStore(tmp_path / "store", durable=False, watch=False, create=True) as store:
        for trial in range(TRIALS):
            job = store.create("x").id
            store.fulfill(job, "v")
            queued, purged = _both(lambda: store.queue(job, trial), lambda: store.purge(older_than=0))  # noqa: B023
            assert purged is None, purged
            if queued is None:
                note = store.pull_notification()
                assert note is not None and note.id == job and note.waiting == [trial], "queue returned: delivered"
                note.done(note.waiting)
            else:
                assert isinstance(queued, JobNotFound), queued
            assert not any(p.kind == "orphan-waiting" for p in store.check().problems)
            store.purge(older_than=0)
        assert list(store.jobs()) == [] and store.pull_notification() is None


@pytest.mark.parametrize("widened", [False, True], ids=["plain", "widened"])
def test_delete_racing_queue_leaves_no_target_of_a_job_that_is_gone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record_property: Callable[[str, object], None],
        widened: bool) -> None:
    record_property("cases", TRIALS)
    if widened:  # queue's look at the pending record takes long: the delete moves the result aside meanwhile
        exists = fsio.exists

        def exists_slowly(path: str) -> bool:
            if "/pending/" in str(path):
                time.sleep(0.002)
            return exists(path)

        monkeypatch.setattr(fsio, "exists", exists_slowly)
    with JobStore(tmp_path / "store", durable=False, watch=False, create=True) as store:
        for trial in range(TRIALS):
            job = store.create("x").id
            store.queue(job, "first")
            store.fulfill(job, "v")
            queued, deleted = _both(lambda: store.queue(job, trial), lambda: store.delete(job))  # noqa: B023
            assert deleted is None, deleted
            assert queued is None or isinstance(queued, JobNotFound), queued
            with pytest.raises(JobNotFound):
                store.get(job)
            assert store.check().problems == [] and store.pull_notification() is None
        assert list(store.jobs()) == [] and os.listdir(tmp_path / "store" / "waiting") == []


def test_delete_racing_retry_one_of_them_wins(tmp_path: Path, record_property: Callable[[str, object], None]) -> None:
    record_property("cases", TRIALS)
    with JobStore(tmp_path / "store", durable=False, watch=False, create=True) as store:
        for _ in range(TRIALS):
            job = store.create("x").id
            store.fail(job, "e")
            retried, deleted = _both(lambda: store.retry(job), lambda: store.delete(job))  # noqa: B023
            if deleted is None:
                assert isinstance(retried, (JobNotFound, JobBusy)), retried
                with pytest.raises(JobNotFound):
                    store.get(job)
            else:
                assert retried is None and isinstance(deleted, (JobStateError, JobBusy)), (retried, deleted)
                assert store.get(job).state == "pending", "retry returned the job as pending"
                store.cancel(job)
                store.delete(job)
        assert list(store.jobs()) == [] and store.check().problems == []
