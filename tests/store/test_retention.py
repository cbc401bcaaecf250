"""Retention: purge() of resolved jobs past their time, and of crashed writers' leftovers."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from invariants import FsSpy, resolved_file

from fsjobstore import JobBusy, JobNotFound, JobStore, JobStoreError
from fsjobstore._files.ids import new_id
from fsjobstore.store import DEFAULT_RETENTION

TWO_HOURS = 2 * 3600


def age(path: str | os.PathLike[str], seconds: float) -> None:
    """Set a file's mtime (and atime) *seconds* into the past."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def gone(store: JobStore, job_id: str) -> bool:
    try:
        store.get(job_id)
    except JobNotFound:
        return True
    return False


def files_of(store: JobStore, job_id: str) -> list[str]:
    """Every path in the store that names the job."""
    found = []
    for folder, dirs, files in os.walk(store.path):
        for name in dirs + files:
            if job_id in name:
                found.append(os.path.relpath(os.path.join(folder, name), store.path))
    return found


def test_purge_older_than_removes_resolved_jobs_and_keeps_unresolved(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    fulfilled = store.create("f")
    store.fulfill(fulfilled.id, "v")
    failed = store.create("x")
    store.fail(failed.id, "e")
    cancelled = store.create("c")
    store.cancel(cancelled.id)
    pending = store.create("p")
    running = store.create("r")
    lease = store.pull_work()
    assert lease is not None
    held_id = lease.id
    assert store.purge(older_than=3600) == 0, "nothing is an hour old"
    assert store.stats()["fulfilled"] == 1
    assert store.purge(older_than=0) == 3
    for job in (fulfilled, failed, cancelled):
        assert gone(store, job.id)
        assert files_of(store, job.id) == [], f"files of a purged job left: {files_of(store, job.id)}"
    assert {pending.id, running.id} == {j.id for j in store.jobs()}
    assert store.get(held_id).state == "running"
    lease.release()
    assert store.stats() == {"pending": 2, "blocked": 0, "running": 0, "fulfilled": 0, "failed": 0, "cancelled": 0,
                             "expired": 0, "discarded": 0, "due": 0}
    assert store.purge(older_than=0) == 0


def test_purge_by_age(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    old = store.create("old")
    store.fulfill(old.id, "v")
    time.sleep(0.3)
    new = store.create("new")
    store.fulfill(new.id, "v")
    assert store.purge(older_than=0.2) == 1
    assert gone(store, old.id)
    assert store.get(new.id).state == "fulfilled"


def test_resolved_jobs_are_kept_a_week_by_default(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    assert store.retention == DEFAULT_RETENTION == 7 * 24 * 3600
    day = 24 * 3600
    ages = {"eight days": 8 * day, "six days": 6 * day, "now": 0}
    jobs = {name: store.create(name) for name in ages}
    for name, job in jobs.items():
        store.fulfill(job.id, "v")
        path = resolved_file(store.path, job.id)
        mtime = os.stat(path).st_mtime - ages[name]
        os.utime(path, (mtime, mtime))
    assert store.purge() == 1
    assert gone(store, jobs["eight days"].id)
    assert store.get(jobs["six days"].id).state == store.get(jobs["now"].id).state == "fulfilled"
    assert store.stats()["fulfilled"] == 2


def test_purge_without_retention_keeps_everything(open_store: Callable[..., JobStore]) -> None:
    store = open_store(retention=None)
    job = store.create("x")
    store.fulfill(job.id, "v")
    time.sleep(0.05)
    assert store.purge() == 0
    assert store.get(job.id).state == "fulfilled"


def test_per_job_expires_in(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    short = store.create("short", expires_in=0.2)
    forever = store.create("forever")
    long = store.create("long", expires_in=3600)
    for job in (short, forever, long):
        store.fulfill(job.id, "v")
    assert store.get(short.id).expires_in == 0.2
    assert store.purge() == 0, "not yet expired"
    time.sleep(0.3)
    assert store.purge() == 1
    assert gone(store, short.id)
    assert store.get(forever.id).state == "fulfilled"
    assert store.get(long.id).state == "fulfilled"


def test_expiry_counts_from_resolution_not_creation(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    job = store.create("x", expires_in=0.3)
    time.sleep(0.4)
    assert store.purge() == 0, "an unresolved job is never purged"
    store.fulfill(job.id, "v")
    assert store.purge() == 0, "resolved just now"
    time.sleep(0.4)
    assert store.purge() == 1


def test_store_retention_and_per_job_override(open_store: Callable[..., JobStore]) -> None:
    store = open_store(retention=0.2)
    default = store.create("default")
    kept = store.create("kept", expires_in=3600)
    for job in (default, kept):
        store.fulfill(job.id, "v")
    assert store.purge() == 0
    time.sleep(0.3)
    assert store.purge() == 1
    assert gone(store, default.id)
    assert store.get(kept.id).state == "fulfilled", "a job's own expires_in overrides the store's retention"
    assert store.purge(older_than=0) == 1, "an explicit older_than overrides both"
    assert gone(store, kept.id)


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "1"])
def test_purge_refuses_a_bad_older_than(open_store: Callable[..., JobStore], bad: object) -> None:
    store = open_store()
    with pytest.raises((ValueError, TypeError)):
        store.purge(older_than=bad)  # type: ignore[arg-type]


def test_jobs_with_waiting_targets_are_kept(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    job = store.create("x")
    store.queue(job.id, "someone")
    store.fulfill(job.id, "v")
    plain = store.create("y")
    store.fulfill(plain.id, "v")
    assert store.purge(older_than=0) == 1
    assert gone(store, plain.id)
    assert store.get(job.id).waiting == ("someone",)
    assert store.stats()["due"] == 1
    note = store.pull_notification()
    assert note is not None and note.id == job.id
    note.done(note.waiting)
    assert store.purge(older_than=0) == 1
    assert gone(store, job.id)
    assert files_of(store, job.id) == []
    assert store.pull_notification() is None


def test_a_purge_of_many_jobs_at_once_keeps_and_removes_what_one_at_a_time_does(
        open_store: Callable[..., JobStore]) -> None:
    # Enough jobs past their time in one bucket that they are removed by several
    # threads at once (POOL_FROM), of every kind purge tells apart.
    store = open_store(durable=False)
    plain, keyed, waiting, given_up = [], [], [], []
    for n in range(200):
        kind = n % 5
        job = store.create(n, key=f"k{n}" if kind == 1 else None)
        if kind in (2, 3):
            store.queue(job.id, f"t{n}")
        store.fulfill(job.id, "v")
        [plain, keyed, waiting, given_up, plain][kind].append(job.id)
    while (note := store.pull_notification()) is not None:
        if note.id in given_up:
            note.done([], failed=[(note.waiting[0], "unreachable")], give_up_after=1)
        else:  # (this store object hands it out again in an hour)
            note.done([], failed=[(note.waiting[0], "later")], retry_in=3600)
    assert all(store.get(job_id).failed_deliveries for job_id in given_up)
    assert store.purge(older_than=0) == len(plain) + len(keyed) + len(given_up)
    for job_id in plain + keyed + given_up:
        assert gone(store, job_id) and files_of(store, job_id) == [], files_of(store, job_id)
    assert [store.get(job_id).waiting for job_id in waiting] == [(f"t{int(store.get(job_id).request)}",)
                                                                   for job_id in waiting]
    for n in range(1, 200, 5):  # each key is free again
        assert store.create({"again": n}, key=f"k{n}").request == {"again": n}
    assert os.listdir(os.path.join(store.path, "tmp")) == []



def test_a_purge_removes_jobs_by_several_threads_at_once_where_each_step_waits_on_the_filesystem(
        open_store: Callable[..., JobStore]) -> None:
    # Each removal waiting on the filesystem (as over NFS, a round trip per step):
    # the purging thread's first removals wait longer than they compute, and the
    # pool's threads take the rest, waiting together.
    store = open_store(durable=False)
    ids = [store.create(n).id for n in range(200)]
    for job_id in ids:
        store.fulfill(job_id, "v")
    removers: set[int] = set()

    def slow(call: Any) -> Any:
        if call.name != "rename":  # (one per removal: its resolved record moved aside)
            return None

        def then(*args: Any, **kwargs: Any) -> Any:
            removers.add(threading.get_ident())
            time.sleep(0.005)
            return os.rename(*args, **kwargs)
        return then

    with FsSpy(fault=slow, every_thread=True).installed():
        assert store.purge(older_than=0) == len(ids)
    assert len(removers) > 1
    assert all(gone(store, job_id) for job_id in ids)
    assert os.listdir(os.path.join(store.path, "tmp")) == []


def _leftovers(store: JobStore, valid_id: str) -> dict[str, str]:
    """Leftover files of crashed writers, by what they are."""
    root = Path(store.path)
    made = {
        "tmp": root / "tmp" / f"{valid_id.lower()}.tmp",
        "broken-work": root / "leases" / "work" / f"{valid_id}.broken-deadbeef",
        "broken-notify": root / "leases" / "notify" / f"{valid_id}.broken-cafe",
        "broken-resource": root / "leases" / "resource" / f"{valid_id.lower()}.broken-f00d",
        "orphan-work": root / "leases" / "work" / valid_id,
        "orphan-notify": root / "leases" / "notify" / valid_id,
        "dead-worker": root / "workers" / f"host-1-{valid_id.lower()}.json",
    }
    (root / "workers").mkdir(exist_ok=True)
    for path in made.values():
        path.write_text('{"token": "x"}\n')
    return {name: str(path) for name, path in made.items()}


def test_purge_removes_stale_leftovers_and_keeps_fresh_ones(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    stale = _leftovers(store, "01JD3Z6M6W4Q8S1V2X3Y4Z5A6A")
    fresh = _leftovers(store, "01JD3Z6M6W4Q8S1V2X3Y4Z5A6B")
    for path in stale.values():
        age(path, TWO_HOURS)
    live = store.create("live")
    lease = store.pull_work()
    assert lease is not None and lease.id == live.id
    assert store.purge() == 0
    for name, path in stale.items():
        assert not os.path.exists(path), f"stale leftover {name} kept: {path}"
    for name, path in fresh.items():
        assert os.path.exists(path), f"fresh leftover {name} removed: {path}"
    # A held lease is never a leftover, and the store works as before.
    assert not lease.compromised
    lease.fulfill("ok")
    assert store.get(live.id).value == b"ok"


def test_purge_keeps_an_old_lease_on_an_existing_job(open_store: Callable[..., JobStore]) -> None:
    # A lease file whose mtime is old but whose job still exists is for the
    # lease protocol to expire and take over, not for purge to delete.
    store = open_store()
    job = store.create("x")
    lease = store.pull_work()
    assert lease is not None
    path = os.path.join(store.path, "leases", "work", job.id)
    age(path, TWO_HOURS)
    store.purge()
    assert os.path.exists(path)
    assert not lease.compromised
    lease.fulfill("v")


def test_purge_reports_progress(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    calls: list[tuple[int, int]] = []
    assert store.purge(older_than=0, progress=lambda done, total: calls.append((done, total))) == 0
    for n in range(5):
        job = store.create(n)
        store.fulfill(job.id, "v")
    calls.clear()
    assert store.purge(older_than=0, progress=lambda done, total: calls.append((done, total))) == 5
    assert calls, "progress was never called"
    assert calls[-1] == (5, 5)
    assert all(total == 5 for _, total in calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_purge_reports_progress_of_a_large_store(open_store: Callable[..., JobStore]) -> None:
    store = open_store(durable=False)
    total = 2100
    # One real resolved record, copied under fresh ids (quicker than 2,100 API round trips).
    model = store.create("model")
    store.fulfill(model.id, "v")
    data = Path(resolved_file(store.path, model.id)).read_text()
    for _ in range(total - 1):
        job_id = new_id()
        path = Path(resolved_file(store.path, job_id))
        path.parent.mkdir(exist_ok=True)
        path.write_text(data.replace(model.id, job_id))
    assert store.stats()["fulfilled"] == total
    calls: list[tuple[int, int]] = []
    assert store.purge(older_than=0, progress=lambda done, total: calls.append((done, total))) == total
    assert calls[-1] == (total, total)
    assert [done for done, _ in calls] == sorted(set(done for done, _ in calls))
    assert len(calls) >= 3, f"progress should be reported along the way, not only at the end: {calls}"
    assert all(t == total for _, t in calls)
    assert store.stats()["fulfilled"] == 0


def test_only_one_purge_at_a_time_on_a_host(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    other = open_store()
    job = store.create("x")
    store.fulfill(job.id, "v")
    started = []

    def progress(done: int, total: int) -> None:
        started.append(done)
        with pytest.raises(JobStoreError, match="another purge"):
            other.purge(older_than=0)

    assert store.purge(older_than=0, progress=progress) == 1
    assert started == [1]
    assert other.purge(older_than=0) == 0


def test_delete_of_a_job_someone_holds_is_busy_and_removes_nothing(open_store: Callable[..., JobStore]) -> None:
    store, other = open_store(), open_store()
    job = store.create("x")
    store.queue(job.id, "t1")
    store.fail(job.id, "e")
    held = other.context.work_leases.acquire(job.id)  # as a retry or a purge of another process holds it
    assert held is not None
    with pytest.raises(JobBusy):
        store.delete(job.id)
    assert store.get(job.id).waiting == ("t1",) and store.stats()["due"] == 1
    held.release()
    assert store.delete(job.id).state == "failed" and gone(store, job.id)
    assert sorted(os.listdir(os.path.join(store.path, "waiting")) + os.listdir(os.path.join(store.path, "due"))) == []
