"""Crash points: every public mutating operation, killed at each filesystem call it makes.

For each operation a counting run first records the calls it makes through
fsjobstore.fsio and fsjobstore.lease (open, write, pwrite, fsync, rename, link,
unlink, mkdir, rmdir). Then, for every k, a fresh store is set up, the operation
runs with call k raising ``Crash`` (and every call after it too: the process is
dead), the store object is abandoned as a SIGKILL would leave it (renewals
stopped, nothing released), and a fresh JobStore on the folder must show:

* every created job exactly once, in one state, the same through get/jobs/stats;
* the operation took effect exactly when the crash came after its commit point
  (the link/rename/unlink that publishes it), with the committed value complete;
* waiting targets neither lost nor duplicated;
* a notifier's first pull makes due every resolved job with waiting targets (no
  person needed, whichever call crashed);
* ``check(repair=True)`` finds only what a crash may leave and repairs it, then
  ``check()`` is clean; leftovers are only temp files and half-broken leases,
  which purge removes once they are old;
* the operation, redone, succeeds (or reports that it already took effect),
  and afterwards every job can be completed and every target delivered.

The last case of each operation (k = number of calls + 1) is a process that died
just after the operation returned.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from invariants import (
    CRASH_PROBLEMS,
    Call,
    Crash,
    FakeClock,
    FsSpy,
    age_leftovers,
    assert_check_clean,
    check_files,
    die,
    drain,
    fake_lease_clock,
    leftovers,
    observe,
    pending_file,
    pull_work_eventually,
    reap,
)

from fsjobstore import JobAlreadyResolved, JobNotFound, JobSpec, JobStateError, JobStore
from fsjobstore._store.keys import key_name
from fsjobstore.job import Job

LEASE = 30.0  # long: no renewal (and no extra write) can happen during an operation
# The fake monotonic clock of the crashing store's phase, for setups that let a lease expire.
PHASE_ONE_CLOCK: list[FakeClock] = []

Ctx = dict[str, Any]


@dataclass
class Scenario:
    name: str
    setup: Callable[[JobStore], Ctx]
    op: Callable[[JobStore, Ctx], Any]
    # The call that makes the operation take effect (its first match).
    commit: Callable[[Call, Ctx], bool]
    # After reopening (and again after check --repair): the job states allowed,
    # given whether the crash came after the commit point.
    verify: Callable[[JobStore, Ctx, dict[str, Job], bool], None]
    # Redo the operation on the recovered store (after dead leases expired).
    redo: Callable[[JobStore, Ctx, FakeClock, bool], None]
    # After every job was completed and every target delivered.
    final: Callable[[dict[str, Job], Ctx, dict[str, list[Any]]], None]


def _path_arg(call: Call) -> str:
    index = 1 if call.name in ("rename", "link") else 0
    return str(call.args[index]) if len(call.args) > index else ""


def commits(name: str, folder: str, job: str | None = "a") -> Callable[[Call, Ctx], bool]:
    """The first call *name* on *folder*/ (on job *job*'s entry, if given)."""
    def match(call: Call, ctx: Ctx) -> bool:
        path = _path_arg(call)
        return call.name == name and f"/{folder}/" in path and (job is None or ctx[job] in path)
    return match


# -- scenarios ----------------------------------------------------------------------------

def _only(jobs: dict[str, Job], ctx: Ctx, *names: str) -> None:
    for name in names:
        assert ctx[name] in jobs, f"job {name} ({ctx[name]}) is lost"


def _one_job(s: JobStore, *, target: bool = False, pull: bool = False) -> Ctx:
    a = s.create({"job": "a"}).id
    if target:
        s.queue(a, "t1")
    ctx: Ctx = {"a": a}
    if pull:
        lease = s.pull_work()
        assert lease is not None and lease.id == a
        ctx["lease"] = lease
    return ctx


def verify_unresolved_or(state: str, value: bytes | None, error: str | None, waiting: tuple[Any, ...]):
    def verify(s: JobStore, ctx: Ctx, jobs: dict[str, Job], done: bool) -> None:
        _only(jobs, ctx, "a")
        job = jobs[ctx["a"]]
        assert job.request == {"job": "a"}
        assert job.waiting == waiting
        if done:
            assert job.state == state, f"the commit happened but the job is {job.state}"
            assert job.value == value and job.error == error
            assert job.attempts == (1 if state == "failed" else 0)
        else:
            assert job.state in ("pending", "running"), f"crashed before the commit, yet the job is {job.state}"
            assert job.value is None and job.attempts == 0
    return verify


def redo_resolution(how: str, kind: str):
    """Redo a fulfil / terminal fail / cancel, through a lease or not."""
    def redo(s: JobStore, ctx: Ctx, clock: FakeClock, done: bool) -> None:
        a = ctx["a"]
        if done:
            with pytest.raises(JobAlreadyResolved):
                s.fulfill(a, "a second value")
            if how == "lease":
                lease = pull_work_eventually(s, clock, 2)
                assert lease is None, "a resolved job was handed out as work"
            return
        if how == "lease":
            lease = pull_work_eventually(s, clock)
            assert lease is not None and lease.id == a
            with lease:
                lease.fulfill("value-a") if kind == "fulfilled" else lease.fail("boom")
        elif kind == "fulfilled":
            s.fulfill(a, "value-a")
        elif kind == "failed":
            s.fail(a, "boom")
        else:
            s.cancel(a)
    return redo


def final_resolution(state: str, value: bytes | None):
    def final(jobs: dict[str, Job], ctx: Ctx, delivered: dict[str, list[Any]]) -> None:
        job = jobs[ctx["a"]]
        assert job.state == state and job.value == value
        assert delivered.get(ctx["a"]) == ["t1"], f"target t1 delivered {delivered.get(ctx['a'])}"
    return final


def resolution(name: str, how: str, kind: str) -> Scenario:
    value = b"value-a" if kind == "fulfilled" else None
    error = {"fulfilled": None, "failed": "boom", "cancelled": "cancelled"}[kind]

    def op(s: JobStore, ctx: Ctx) -> Any:
        if how == "lease":
            return ctx["lease"].fulfill("value-a") if kind == "fulfilled" else ctx["lease"].fail("boom")
        if kind == "fulfilled":
            return s.fulfill(ctx["a"], "value-a")
        if kind == "failed":
            return s.fail(ctx["a"], "boom")
        return s.cancel(ctx["a"])

    return Scenario(
        name,
        setup=lambda s: _one_job(s, target=True, pull=how == "lease"),
        op=op,
        commit=commits("link", "resolved"),
        verify=verify_unresolved_or(kind, value, error, ("t1",)),
        redo=redo_resolution(how, kind),
        final=final_resolution(kind, value),
    )


# create

# A batch whose jobs go to two folders (pending/ and a priority queue's).
BATCH = [{"new": 0}, {"new": 1}, JobSpec({"new": 2}, priority=5), {"new": 3}]


def verify_create_many(s: JobStore, ctx: Ctx, jobs: dict[str, Job], done: bool) -> None:
    """The jobs of the batch published so far, in its order (each whole), none before
    the first publication, all once it returned."""
    assert jobs[ctx["other"]].request == {"other": 1} and jobs[ctx["other"]].state == "pending"
    new = sorted(job.request["new"] for job_id, job in jobs.items() if job_id != ctx["other"])
    assert new == list(range(len(new))), f"not the batch's first jobs: {new}"
    assert (len(new) == len(BATCH)) if "result" in ctx else (len(new) >= 1) == done, new
    assert all(job.state == "pending" and job.attempts == 0 for job in jobs.values())


def redo_create_many(s: JobStore, ctx: Ctx, clock: FakeClock, done: bool) -> None:
    made = s.create_many(BATCH)
    assert [s.get(job.id).request for job in made] == [{"new": n} for n in range(len(BATCH))]


def final_create_many(jobs: dict[str, Job], ctx: Ctx, delivered: dict[str, list[Any]]) -> None:
    for n in range(len(BATCH)):
        assert 1 <= sum(job.request == {"new": n} for job in jobs.values()) <= 2
    assert all(job.state == "fulfilled" for job in jobs.values())


def verify_create(s: JobStore, ctx: Ctx, jobs: dict[str, Job], done: bool) -> None:
    assert jobs[ctx["other"]].request == {"other": 1} and jobs[ctx["other"]].state == "pending"
    new = [job for job_id, job in jobs.items() if job_id != ctx["other"]]
    assert len(new) == (1 if done else 0), f"{len(new)} new jobs after a create that {'' if done else 'did not '}commit"
    for job in new:
        assert job.request == {"new": 1} and job.state == "pending" and job.attempts == 0


def redo_create(s: JobStore, ctx: Ctx, clock: FakeClock, done: bool) -> None:
    job = s.create({"new": 1})
    assert s.get(job.id).request == {"new": 1}


def final_create(jobs: dict[str, Job], ctx: Ctx, delivered: dict[str, list[Any]]) -> None:
    new = [job for job in jobs.values() if job.request == {"new": 1}]
    assert 1 <= len(new) <= 2 and all(job.state == "fulfilled" for job in jobs.values())


# pull_work

def verify_pull(s: JobStore, ctx: Ctx, jobs: dict[str, Job], done: bool) -> None:
    job = jobs[ctx["a"]]
    assert job.request == {"job": "a"} and job.value is None and job.attempts == 0
    assert job.state == ("running" if done else "pending")


def redo_pull(s: JobStore, ctx: Ctx, clock: FakeClock, done: bool) -> None:
    lease = pull_work_eventually(s, clock)
    assert lease is not None and lease.id == ctx["a"] and lease.request == {"job": "a"}
    with lease:
        lease.fulfill("value-a")


def final_pull(jobs: dict[str, Job], ctx: Ctx, delivered: dict[str, list[Any]]) -> None:
    assert jobs[ctx["a"]].state == "fulfilled" and jobs[ctx["a"]].value == b"value-a"


# fail(retry=True)

def verify_fail_retry(s: JobStore, ctx: Ctx, jobs: dict[str, Job], done: bool) -> None:
    job = jobs[ctx["a"]]
    assert job.request == {"job": "a"} and job.value is None
    assert job.state in ("pending", "running")
    assert (job.attempts, job.error) == ((1, "boom") if done else (0, None))


def redo_fail_retry(how: str):
    def redo(s: JobStore, ctx: Ctx, clock: FakeClock, done: bool) -> None:
        before = s.get(ctx["a"]).attempts
        if how == "lease":
            lease = pull_work_eventually(s, clock)
            assert lease is not None and lease.id == ctx["a"]
            lease.fail("boom", retry=True)
        else:
            s.fail(ctx["a"], "boom", retry=True)
        job = s.get(ctx["a"])
        assert job.state == "pending" and job.attempts == before + 1 and job.error == "boom"
    return redo


def final_fail_retry(jobs: dict[str, Job], ctx: Ctx, delivered: dict[str, list[Any]]) -> None:
    job = jobs[ctx["a"]]
    assert job.state == "fulfilled" and job.attempts >= 1


# retry (failed -> pending)

def setup_retry(s: JobStore) -> Ctx:
    ctx = _one_job(s, target=True)
    s.fail(ctx["a"], "boom")
    return ctx


def verify_retry(s: JobStore, ctx: Ctx, jobs: dict[str, Job], done: bool) -> None:
    job = jobs[ctx["a"]]
    assert job.request == {"job": "a"} and job.waiting == ("t1",)
    if done:
        assert job.state in ("pending", "running") and job.attempts == 0
    else:
        assert job.state == "failed" and job.attempts == 1 and job.error == "boom"


def redo_retry(s: JobStore, ctx: Ctx, clock: FakeClock, done: bool) -> None:
    if done:
        with pytest.raises(JobStateError):
            s.retry(ctx["a"])
    else:
        assert s.retry(ctx["a"]).state == "pending"
    assert s.get(ctx["a"]).state == "pending"


def final_retry(jobs: dict[str, Job], ctx: Ctx, delivered: dict[str, list[Any]]) -> None:
    assert jobs[ctx["a"]].state == "fulfilled" and jobs[ctx["a"]].value == b"drained"
    assert delivered.get(ctx["a"]) == ["t1"]


# queue

def setup_queue(resolved: bool) -> Callable[[JobStore], Ctx]:
    def setup(s: JobStore) -> Ctx:
        ctx = _one_job(s)
        if resolved:
            s.fulfill(ctx["a"], "value-a")
        return ctx
    return setup


def verify_queue(resolved: bool):
    def verify(s: JobStore, ctx: Ctx, jobs: dict[str, Job], done: bool) -> None:
        job = jobs[ctx["a"]]
        assert job.state == ("fulfilled" if resolved else "pending")
        if resolved:
            assert job.value == b"value-a"
        assert job.waiting == (("t1",) if done else ()), f"waiting {job.waiting}"
    return verify


def redo_queue(resolved: bool):
    def redo(s: JobStore, ctx: Ctx, clock: FakeClock, done: bool) -> None:
        s.queue(ctx["a"], "t1")
        s.queue(ctx["a"], "t1")
        assert s.get(ctx["a"]).waiting == ("t1",)
        if resolved:
            assert os.path.exists(os.path.join(s.path, "due", ctx["a"]))
    return redo


def final_queue(resolved: bool):
    def final(jobs: dict[str, Job], ctx: Ctx, delivered: dict[str, list[Any]]) -> None:
        assert jobs[ctx["a"]].value == (b"value-a" if resolved else b"drained")
        assert delivered.get(ctx["a"]) == ["t1"]
    return final


# unqueue

def setup_two_targets(s: JobStore) -> Ctx:
    ctx = _one_job(s)
    s.queue(ctx["a"], "t1")
    s.queue(ctx["a"], "t2")
    s.fulfill(ctx["a"], "value-a")
    return ctx


def verify_targets(*allowed: set[str], after_commit: Callable[[set[str]], bool]):
    def verify(s: JobStore, ctx: Ctx, jobs: dict[str, Job], done: bool) -> None:
        job = jobs[ctx["a"]]
        assert job.state == "fulfilled" and job.value == b"value-a"
        assert set(job.waiting) in allowed, f"waiting {job.waiting}"
        if done:
            assert after_commit(set(job.waiting)), f"waiting {job.waiting} after the commit"
        else:
            assert set(job.waiting) == {"t1", "t2"}, f"waiting {job.waiting} before the commit"
    return verify


def only_t2(left: set[str]) -> bool:
    return left <= {"t2"}


def one_gone(left: set[str]) -> bool:
    return len(left) <= 1


def redo_unqueue(s: JobStore, ctx: Ctx, clock: FakeClock, done: bool) -> None:
    s.unqueue(ctx["a"], "t1")
    assert s.get(ctx["a"]).waiting == ("t2",)


def redo_unqueue_all(s: JobStore, ctx: Ctx, clock: FakeClock, done: bool) -> None:
    s.unqueue_all(ctx["a"], ["t1", "t2"])
    assert s.get(ctx["a"]).waiting == ()
    assert not os.path.exists(os.path.join(s.path, "due", ctx["a"]))
    assert s.pull_notification() is None


def final_delivered(expected: list[str] | None):
    def final(jobs: dict[str, Job], ctx: Ctx, delivered: dict[str, list[Any]]) -> None:
        assert jobs[ctx["a"]].value == b"value-a"
        assert delivered.get(ctx["a"]) == expected, f"delivered {delivered.get(ctx['a'])}"
    return final


# pull_notification + done

def op_notify(part: bool):
    def op(s: JobStore, ctx: Ctx) -> Any:
        note = s.pull_notification()
        assert note is not None and note.id == ctx["a"] and sorted(note.waiting) == ["t1", "t2"]
        note.done(["t1"] if part else note.waiting)
    return op


def redo_notify(part: bool):
    def redo(s: JobStore, ctx: Ctx, clock: FakeClock, done: bool) -> None:
        left = set(s.get(ctx["a"]).waiting)
        note = s.pull_notification()
        if not left:
            assert note is None
            return
        assert note is not None and set(note.waiting) == left
        note.done(["t1"] if part else note.waiting)
        assert s.get(ctx["a"]).waiting == (("t2",) if part else ())
    return redo


# purge

def setup_purge(s: JobStore) -> Ctx:
    a = s.create({"job": "a"}).id
    s.fulfill(a, "value-a")
    b = s.create({"job": "b"}).id
    c = s.create({"job": "c"}).id
    s.queue(c, "t1")
    s.fulfill(c, "value-c")
    old = time.time() - 7200
    stray = os.path.join(s.path, "tmp", "0" * 32 + ".tmp")
    Path(stray).write_bytes(b'{"half": ')
    broken = os.path.join(s.path, "leases", "work", b + ".new-" + "1" * 16)
    Path(broken).write_bytes(b"{}")
    for path in (stray, broken):
        os.utime(path, (old, old))
    return {"a": a, "b": b, "c": c}


def verify_purge(s: JobStore, ctx: Ctx, jobs: dict[str, Job], done: bool) -> None:
    if done:
        assert ctx["a"] not in jobs
        with pytest.raises(JobNotFound):
            s.get(ctx["a"])
    else:
        assert jobs[ctx["a"]].state == "fulfilled" and jobs[ctx["a"]].value == b"value-a"
    assert jobs[ctx["b"]].state == "pending" and jobs[ctx["b"]].request == {"job": "b"}
    c = jobs[ctx["c"]]
    assert c.state == "fulfilled" and c.value == b"value-c" and c.waiting == ("t1",)


def redo_purge(s: JobStore, ctx: Ctx, clock: FakeClock, done: bool) -> None:
    assert s.purge(older_than=0) == (0 if done else 1)
    with pytest.raises(JobNotFound):
        s.get(ctx["a"])
    # The old ones are gone; a crashed purge's own temp files (its clock probe, a
    # record it had moved aside) are young, and go once old (checked at the end).
    assert [path for path in leftovers(s.path) if not path.startswith("tmp/")] == []


def final_purge(jobs: dict[str, Job], ctx: Ctx, delivered: dict[str, list[Any]]) -> None:
    assert ctx["a"] not in jobs
    assert jobs[ctx["b"]].value == b"drained" and jobs[ctx["c"]].value == b"value-c"
    assert delivered == {ctx["c"]: ["t1"]}


def setup_purge_half_resolved(s: JobStore) -> Ctx:
    """a resolved by a resolver that stopped before removing its pending record."""
    a = s.create({"job": "a"}).id
    pending = Path(pending_file(s.path, a))
    data = pending.read_bytes()
    s.fulfill(a, "value-a")
    pending.write_bytes(data)
    return {"a": a}


def verify_purge_half_resolved(s: JobStore, ctx: Ctx, jobs: dict[str, Job], done: bool) -> None:
    if done:
        assert ctx["a"] not in jobs
    else:  # (its pending record removed or not: the resolved one is the truth)
        assert jobs[ctx["a"]].state == "fulfilled" and jobs[ctx["a"]].value == b"value-a"


def redo_purge_half_resolved(s: JobStore, ctx: Ctx, clock: FakeClock, done: bool) -> None:
    s.purge(older_than=0)
    with pytest.raises(JobNotFound):
        s.get(ctx["a"])
    assert not Path(pending_file(s.path, ctx["a"])).exists()


def final_purge_half_resolved(jobs: dict[str, Job], ctx: Ctx, delivered: dict[str, list[Any]]) -> None:
    assert ctx["a"] not in jobs and delivered == {}


# delete: a resolved job with targets, next to a pending one and one with a target of its own

def setup_delete(s: JobStore) -> Ctx:
    ctx = setup_two_targets(s)
    ctx["b"] = s.create({"job": "b"}).id
    ctx["c"] = c = s.create({"job": "c"}).id
    s.queue(c, "t1")
    s.fulfill(c, "value-c")
    return ctx


def verify_delete(s: JobStore, ctx: Ctx, jobs: dict[str, Job], done: bool) -> None:
    if done:
        assert ctx["a"] not in jobs
        with pytest.raises(JobNotFound):
            s.get(ctx["a"])
    else:  # its targets are unlinked first: some may be gone already
        a = jobs[ctx["a"]]
        assert a.state == "fulfilled" and a.value == b"value-a" and set(a.waiting) <= {"t1", "t2"}
    assert jobs[ctx["b"]].state == "pending"
    c = jobs[ctx["c"]]
    assert c.state == "fulfilled" and c.value == b"value-c" and c.waiting == ("t1",)


def redo_delete(s: JobStore, ctx: Ctx, clock: FakeClock, done: bool) -> None:
    if done:
        with pytest.raises(JobNotFound):
            s.delete(ctx["a"])
    else:
        assert s.delete(ctx["a"]).value == b"value-a"
    with pytest.raises(JobNotFound):
        s.get(ctx["a"])


def final_delete(jobs: dict[str, Job], ctx: Ctx, delivered: dict[str, list[Any]]) -> None:
    assert ctx["a"] not in jobs
    assert jobs[ctx["b"]].value == b"drained" and jobs[ctx["c"]].value == b"value-c"
    assert delivered.get(ctx["c"]) == ["t1"]


# resolution and queue with a notify callable (delivery pushed at once)

def setup_notify(resolved: bool) -> Callable[[JobStore], Ctx]:
    def setup(s: JobStore) -> Ctx:
        ctx = _one_job(s, target=not resolved)
        if resolved:
            s.fulfill(ctx["a"], "value-a")
        ctx["pushed"] = pushed = []
        s.notify = lambda target, job: pushed.append((target, job.value))
        return ctx
    return setup


def verify_pushed(resolved: bool):
    def verify(s: JobStore, ctx: Ctx, jobs: dict[str, Job], done: bool) -> None:
        job = jobs[ctx["a"]]
        if resolved or done:
            assert job.state == "fulfilled" and job.value == b"value-a"
        else:
            assert job.state == "pending" and job.value is None
        if resolved and not done:
            assert job.waiting == ()
        else:
            # Delivered (and removed) only after the push called notify.
            assert job.waiting in ((), ("t1",)) and (job.waiting or ("t1", b"value-a") in ctx["pushed"])
    return verify


def final_pushed(jobs: dict[str, Job], ctx: Ctx, delivered: dict[str, list[Any]]) -> None:
    assert jobs[ctx["a"]].value == b"value-a"
    told = [t for t, _ in ctx["pushed"]] + delivered.get(ctx["a"], [])
    assert "t1" in told, "target t1 never delivered"
    assert all(value == b"value-a" for _, value in ctx["pushed"])


# pull_work taking over the expired lease of a dead holder

def setup_takeover(s: JobStore) -> Ctx:
    ctx = _one_job(s)
    holder = JobStore(s.path, lease_seconds=LEASE, durable=s.durable, watch=False, create=True)
    assert holder.pull_work() is not None
    die(holder)
    assert s.pull_work() is None  # sees the holder's record
    PHASE_ONE_CLOCK[0].advance(LEASE + 1)
    return ctx


def verify_takeover(s: JobStore, ctx: Ctx, jobs: dict[str, Job], done: bool) -> None:
    job = jobs[ctx["a"]]
    assert job.state in ("pending", "running") and job.request == {"job": "a"}
    assert job.attempts == (1 if done else 0), f"attempts {job.attempts}"


def redo_takeover(s: JobStore, ctx: Ctx, clock: FakeClock, done: bool) -> None:
    lease = pull_work_eventually(s, clock)
    # (A crash after the dead holder's lease was moved aside, before the new one
    # was made, loses the count of that attempt: the job is then pulled afresh.)
    assert lease is not None and lease.id == ctx["a"]
    with lease:
        lease.fulfill("value-a")


# create(key=...) and purging a keyed job

def _key_file(s: JobStore, key: str) -> Path:
    return Path(s.path, "keys", key_name(key))


def verify_create_keyed(s: JobStore, ctx: Ctx, jobs: dict[str, Job], done: bool) -> None:
    new = [job for job_id, job in jobs.items() if job_id != ctx["other"]]
    assert len(new) <= (1 if done else 0), f"{len(new)} new jobs after a keyed create"
    # A crash between its two links leaves the job in its key file alone, until
    # a create with the key or check --repair finishes it.
    assert new or not done or _key_file(s, "k").exists(), "the key was published, and its job is lost"
    for job in new:
        assert job.request == {"new": 1} and job.key == "k" and job.state == "pending"


def redo_create_keyed(s: JobStore, ctx: Ctx, clock: FakeClock, done: bool) -> None:
    first = s.create({"new": 1}, key="k").id
    assert s.create({"again": 1}, key="k").id == first
    assert [job.id for job in s.jobs() if job.key == "k"] == [first]


def final_create_keyed(jobs: dict[str, Job], ctx: Ctx, delivered: dict[str, list[Any]]) -> None:
    new = [job for job in jobs.values() if job.key == "k"]
    assert len(new) == 1 and new[0].request == {"new": 1} and new[0].state == "fulfilled"


def setup_purge_keyed(s: JobStore) -> Ctx:
    a = s.create({"job": "a"}, key="k").id
    s.fulfill(a, "value-a")
    return {"a": a}


def verify_purge_keyed(s: JobStore, ctx: Ctx, jobs: dict[str, Job], done: bool) -> None:
    if done:
        assert ctx["a"] not in jobs and not _key_file(s, "k").exists()
    elif ctx["a"] in jobs:
        assert jobs[ctx["a"]].state == "fulfilled" and jobs[ctx["a"]].key == "k"
    # (A crash after the key was moved aside, before the record, frees the key of
    # a job past its time early: never the other way round, a key without a job.)
    if _key_file(s, "k").exists():
        assert ctx["a"] in jobs


def redo_purge_keyed(s: JobStore, ctx: Ctx, clock: FakeClock, done: bool) -> None:
    s.purge(older_than=0)
    with pytest.raises(JobNotFound):
        s.get(ctx["a"])
    ctx["b"] = s.create({"job": "b"}, key="k").id
    assert ctx["b"] != ctx["a"]


def final_purge_keyed(jobs: dict[str, Job], ctx: Ctx, delivered: dict[str, list[Any]]) -> None:
    assert ctx["a"] not in jobs and [job.id for job in jobs.values() if job.key == "k"] == [ctx["b"]]


# dependencies: a job made after a parent, and the settling of dependants when a parent resolves

def verify_create_after(s: JobStore, ctx: Ctx, jobs: dict[str, Job], done: bool) -> None:
    assert jobs[ctx["a"]].state == "pending"
    new = [job for job_id, job in jobs.items() if job_id != ctx["a"]]
    assert len(new) == (1 if done else 0), f"{len(new)} new jobs after a create that {'' if done else 'did not '}commit"
    for job in new:
        assert (job.request, job.state, job.after) == ({"new": 1}, "blocked", (ctx["a"],))


def redo_create_after(s: JobStore, ctx: Ctx, clock: FakeClock, done: bool) -> None:
    assert s.create({"new": 1}, after=[ctx["a"]]).state == "blocked"


def final_create_after(jobs: dict[str, Job], ctx: Ctx, delivered: dict[str, list[Any]]) -> None:
    new = [job for job in jobs.values() if job.request == {"new": 1}]
    assert 1 <= len(new) <= 2 and all(job.state == "fulfilled" for job in jobs.values())


def setup_family(s: JobStore) -> Ctx:
    """a (pulled) <- b <- c (a target waits on c)."""
    ctx = _one_job(s, pull=True)
    ctx["b"] = s.create({"job": "b"}, after=[ctx["a"]]).id
    ctx["c"] = s.create({"job": "c"}, after=[ctx["b"]]).id
    s.queue(ctx["c"], "t1")
    return ctx


def verify_settled(kind: str):
    """After a's resolution: its dependants settled, or still blocked (the settler died:
    healed by the next puller's sweep); never settled before it."""
    def verify(s: JobStore, ctx: Ctx, jobs: dict[str, Job], done: bool) -> None:
        _only(jobs, ctx, "a", "b", "c")
        a, b, c = (jobs[ctx[name]] for name in "abc")
        assert c.waiting == ("t1",)
        if not done:
            assert a.state in ("pending", "running") and (b.state, c.state) == ("blocked", "blocked")
            return
        assert a.state == kind
        if kind == "fulfilled":  # (running: released, with the dead settler's lease still linked)
            assert b.state in ("blocked", "pending", "running") and c.state == "blocked"
        else:
            assert b.state in ("blocked", "cancelled") and c.state in ("blocked", "cancelled")
            assert c.state == "blocked" or b.state == "cancelled", "a dependant settled before its parent"
    return verify


def redo_parent(kind: str):
    def redo(s: JobStore, ctx: Ctx, clock: FakeClock, done: bool) -> None:
        if done:
            with pytest.raises(JobAlreadyResolved):
                s.cancel(ctx["a"])
        elif kind == "fulfilled":
            lease = pull_work_eventually(s, clock)
            assert lease is not None and lease.id == ctx["a"]
            lease.fulfill("value-a")
        else:
            s.cancel(ctx["a"])
    return redo


def final_family(kind: str):
    def final(jobs: dict[str, Job], ctx: Ctx, delivered: dict[str, list[Any]]) -> None:
        a, b, c = (jobs[ctx[name]] for name in "abc")
        assert delivered.get(ctx["c"]) == ["t1"]
        if kind == "fulfilled":
            assert (a.value, b.state, c.state) == (b"value-a", "fulfilled", "fulfilled")
            assert b.updated_at >= a.updated_at and c.updated_at >= b.updated_at
        else:
            link = f"parent {ctx['a']} cancelled: cancelled"  # (one "cancelled: " per link of the chain)
            assert (b.error, c.error) == (f"cancelled: {link}", f"cancelled: parent {ctx['b']} cancelled: {link}")
    return final


SCENARIOS = [
    Scenario("create", lambda s: {"other": s.create({"other": 1}).id}, lambda s, ctx: s.create({"new": 1}),
             commits("rename", "pending", None), verify_create, redo_create, final_create),
    Scenario("create_many", lambda s: {"other": s.create({"other": 1}).id}, lambda s, ctx: s.create_many(BATCH),
             commits("rename", "pending", None), verify_create_many, redo_create_many, final_create_many),
    Scenario("pull_work", lambda s: _one_job(s), lambda s, ctx: s.pull_work(),
             commits("link", "leases/work"), verify_pull, redo_pull, final_pull),
    resolution("fulfill_lease", "lease", "fulfilled"),
    resolution("fulfill", "store", "fulfilled"),
    resolution("fail_lease", "lease", "failed"),
    resolution("fail", "store", "failed"),
    resolution("cancel", "store", "cancelled"),
    Scenario("fail_retry_lease", lambda s: _one_job(s, pull=True),
             lambda s, ctx: ctx["lease"].fail("boom", retry=True),
             commits("rename", "pending"), verify_fail_retry, redo_fail_retry("lease"), final_fail_retry),
    Scenario("fail_retry", lambda s: _one_job(s), lambda s, ctx: s.fail(ctx["a"], "boom", retry=True),
             commits("rename", "pending"), verify_fail_retry, redo_fail_retry("store"), final_fail_retry),
    Scenario("retry", setup_retry, lambda s, ctx: s.retry(ctx["a"]),
             commits("unlink", "resolved"), verify_retry, redo_retry, final_retry),
    Scenario("queue_pending", setup_queue(False), lambda s, ctx: s.queue(ctx["a"], "t1"),
             commits("link", "waiting"), verify_queue(False), redo_queue(False), final_queue(False)),
    Scenario("queue_resolved", setup_queue(True), lambda s, ctx: s.queue(ctx["a"], "t1"),
             commits("link", "waiting"), verify_queue(True), redo_queue(True), final_queue(True)),
    Scenario("unqueue", setup_two_targets, lambda s, ctx: s.unqueue(ctx["a"], "t1"),
             commits("unlink", "waiting"), verify_targets({"t1", "t2"}, {"t2"}, after_commit=only_t2),
             redo_unqueue, final_delivered(["t2"])),
    Scenario("unqueue_all", setup_two_targets, lambda s, ctx: s.unqueue_all(ctx["a"], ["t1", "t2"]),
             commits("unlink", "waiting"),
             verify_targets({"t1", "t2"}, {"t2"}, {"t1"}, set(), after_commit=one_gone),
             redo_unqueue_all, final_delivered(None)),
    Scenario("notify_done_part", setup_two_targets, op_notify(True),
             commits("unlink", "waiting"), verify_targets({"t1", "t2"}, {"t2"}, after_commit=only_t2),
             redo_notify(True), final_delivered(["t2"])),
    Scenario("notify_done_all", setup_two_targets, op_notify(False),
             commits("unlink", "waiting"), verify_targets({"t1", "t2"}, {"t2"}, {"t1"}, set(), after_commit=one_gone),
             redo_notify(False), final_delivered(None)),
    Scenario("fulfill_notify", setup_notify(False), lambda s, ctx: s.fulfill(ctx["a"], "value-a"),
             commits("link", "resolved"), verify_pushed(False), redo_resolution("store", "fulfilled"), final_pushed),
    Scenario("queue_resolved_notify", setup_notify(True), lambda s, ctx: s.queue(ctx["a"], "t1"),
             commits("link", "waiting"), verify_pushed(True), redo_queue(True), final_pushed),
    Scenario("pull_takeover", setup_takeover, lambda s, ctx: s.pull_work(),
             commits("rename", "pending"), verify_takeover, redo_takeover, final_pull),
    Scenario("purge", setup_purge, lambda s, ctx: s.purge(older_than=0),
             commits("rename", "tmp"), verify_purge, redo_purge, final_purge),
    Scenario("purge_half_resolved", setup_purge_half_resolved, lambda s, ctx: s.purge(older_than=0),
             commits("rename", "tmp"), verify_purge_half_resolved, redo_purge_half_resolved,
             final_purge_half_resolved),
    Scenario("delete", setup_delete, lambda s, ctx: s.delete(ctx["a"]),
             commits("rename", "tmp"), verify_delete, redo_delete, final_delete),
    Scenario("create_keyed", lambda s: {"other": s.create({"other": 1}).id},
             lambda s, ctx: s.create({"new": 1}, key="k"),
             commits("link", "keys", None), verify_create_keyed, redo_create_keyed, final_create_keyed),
    Scenario("purge_keyed", setup_purge_keyed, lambda s, ctx: s.purge(older_than=0),
             lambda call, ctx: call.name == "rename" and "/resolved/" in str(call.args[0]),
             verify_purge_keyed, redo_purge_keyed, final_purge_keyed),
    Scenario("create_after", lambda s: _one_job(s), lambda s, ctx: s.create({"new": 1}, after=[ctx["a"]]),
             commits("rename", "blocked", None), verify_create_after, redo_create_after, final_create_after),
    Scenario("fulfill_parent", setup_family, lambda s, ctx: ctx["lease"].fulfill("value-a"),
             commits("link", "resolved"), verify_settled("fulfilled"), redo_parent("fulfilled"),
             final_family("fulfilled")),
    Scenario("cancel_parent", setup_family, lambda s, ctx: s.cancel(ctx["a"]),
             commits("link", "resolved"), verify_settled("cancelled"), redo_parent("cancelled"),
             final_family("cancelled")),
]


# -- the harness --------------------------------------------------------------------------

def run_case(root: Path, scenario: Scenario, durable: bool, crash_at: int | None) -> FsSpy:
    """Set up, run the operation crashing at call *crash_at* (None: not at all, the
    process dies after it returns), then recover and check everything."""
    with fake_lease_clock() as clock:
        first = JobStore(root, lease_seconds=LEASE, durable=durable, watch=False, create=True)
        PHASE_ONE_CLOCK[:] = [clock]
        ctx = scenario.setup(first)
        spy = FsSpy(crash_at=crash_at)
        with spy.installed():
            try:
                ctx["result"] = scenario.op(first, ctx)
            except Crash:
                pass
        die(first)
    if crash_at is not None:
        assert spy.crashed_call is not None, f"the operation made fewer than {crash_at} calls this time"
    # Whether the commit call ran (the crashing call itself never runs).
    ran = spy.calls[:-1] if crash_at is not None else spy.calls
    done = any(scenario.commit(call, ctx) for call in ran)
    assert crash_at is not None or done, f"{scenario.name}: no commit among {spy.calls}"

    with fake_lease_clock() as clock:
        store = JobStore(root, lease_seconds=LEASE, durable=durable, watch=False, create=True)
        try:
            check_files(root)
            scenario.verify(store, ctx, observe(store), done)
            # Without a person: a notifier's first pull makes due every resolved job
            # with targets, so check finds none that is not (whatever step crashed).
            note = store.pull_notification()
            if note is not None:
                note.release()
            assert_check_clean(store, CRASH_PROBLEMS - {"not-due"})
            check_files(root)
            scenario.verify(store, ctx, observe(store), done)
            reap(store, clock)
            scenario.redo(store, ctx, clock, done)
            observe(store)
            delivered = drain(store, clock)
            scenario.final(observe(store), ctx, delivered)
            # Leftovers are only temp files and half-broken leases: purge removes them once old.
            age_leftovers(root)
            store.purge()
            assert leftovers(root) == []
            assert_check_clean(store, frozenset())
        finally:
            store.close()
    return spy


CASES: dict[str, int] = {}


@pytest.mark.parametrize("durable", [True, False], ids=["durable", "nosync"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_crash_at_every_call(scenario: Scenario, durable: bool, tmp_path: Path,
                             request: pytest.FixtureRequest) -> None:
    counting = run_case(tmp_path / "count" / "store", scenario, durable, None)
    total = counting.count
    failures = []
    for k in range(1, total + 1):
        try:
            run_case(tmp_path / f"k{k}" / "store", scenario, durable, k)
        except Exception as exc:  # collect every k, report them together
            failures.append(f"  crash at {counting.calls[k - 1]!r}: {type(exc).__name__}: {exc}".split("\n")[0])
    CASES[f"{scenario.name}-{'durable' if durable else 'nosync'}"] = total + 1
    request.node.user_properties.append(("cases", total + 1))  # for --junitxml reports
    request.node.user_properties.append(("failed_cases", len(failures)))
    print(f"{scenario.name} ({'durable' if durable else 'nosync'}): {total + 1} cases")
    assert not failures, (
        f"{scenario.name}: {len(failures)} of {total} crash points break an invariant "
        f"(calls: {counting.calls}):\n" + "\n".join(failures))
