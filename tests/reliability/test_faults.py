"""Faults: a full disk (ENOSPC), an I/O error (EIO) and NFS's ESTALE, injected.

ENOSPC and EIO are injected on the n-th ``write`` (a disk filling up mid-file: the
write before the failing one is short), ``fsync``, ``rename`` and ``link`` that
create / fulfill / queue make, for every n. The operation must raise OSError with
that errno; if the fault came before the call that publishes the change, the store
must be byte-for-byte unchanged (the failing call removes its own temp file); if it
came after (a folder fsync), the change is complete and the error still reported.
Either way no partial file is visible, the store passes ``check``, and the
operation redone succeeds (or says the change was already made).

ESTALE on a read is retried with a fresh lookup: a few in a row are absorbed, an
endless run is reported as OSError(ESTALE), and the store stays usable.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from invariants import (
    EIO,
    ENOSPC,
    ESTALE,
    Call,
    Crash,
    FsSpy,
    assert_check_clean,
    check_files,
    die,
    files_only,
    nth,
    observe,
    oserror,
    tree,
)

from fsjobstore import JobAlreadyResolved, JobStore
from fsjobstore._files import fsio

Ctx = dict[str, Any]


def _store(root: Path, durable: bool = True) -> JobStore:
    return JobStore(root, lease_seconds=30.0, durable=durable, watch=False, create=True)


# -- the operations -----------------------------------------------------------------------
# Each: setup(store) -> ctx; op(store, ctx); the call that publishes the change;
# applied(store, ctx) -> whether the change is visible; redo(store, ctx).

def setup_create(s: JobStore) -> Ctx:
    return {"other": s.create({"other": 1}).id}


def op_create(s: JobStore, ctx: Ctx) -> Any:
    return s.create({"new": 1})


def applied_create(s: JobStore, ctx: Ctx) -> bool:
    new = [job for job in s.jobs() if job.request == {"new": 1}]
    assert len(new) <= 1
    return bool(new)


def redo_create(s: JobStore, ctx: Ctx, applied: bool) -> None:
    job = s.create({"new": 1})
    assert s.get(job.id).state == "pending"


def setup_fulfill(lease: bool) -> Callable[[JobStore], Ctx]:
    def setup(s: JobStore) -> Ctx:
        a = s.create({"job": "a"}).id
        s.queue(a, "t1")
        ctx: Ctx = {"a": a}
        if lease:
            ctx["lease"] = s.pull_work()
            assert ctx["lease"].id == a
        return ctx
    return setup


def op_fulfill(s: JobStore, ctx: Ctx) -> Any:
    if "lease" in ctx:
        return ctx["lease"].fulfill("value-a")
    return s.fulfill(ctx["a"], "value-a")


def applied_fulfill(s: JobStore, ctx: Ctx) -> bool:
    job = s.get(ctx["a"])
    if job.resolved:
        assert job.state == "fulfilled" and job.value == b"value-a"
    else:
        assert job.value is None
    assert job.waiting == ("t1",)
    return job.resolved


def redo_fulfill(s: JobStore, ctx: Ctx, applied: bool) -> None:
    if applied:
        with pytest.raises(JobAlreadyResolved):
            op_fulfill(s, ctx)
        if "lease" in ctx:
            ctx["lease"].release()  # as leaving its `with` block does
        # The failed call published the result but did not finish: the next
        # puller that passes by the job does (docs/format.md, pull_work step 5).
        assert s.pull_work() is None
    else:
        op_fulfill(s, ctx)
    job = s.get(ctx["a"])
    assert job.state == "fulfilled" and job.value == b"value-a"
    note = s.pull_notification()
    assert note is not None and note.waiting == ["t1"]
    note.done(note.waiting)


def setup_queue(resolved: bool) -> Callable[[JobStore], Ctx]:
    def setup(s: JobStore) -> Ctx:
        a = s.create({"job": "a"}).id
        if resolved:
            s.fulfill(a, "value-a")
        return {"a": a, "resolved": resolved}
    return setup


def op_queue(s: JobStore, ctx: Ctx) -> Any:
    return s.queue(ctx["a"], {"target": 1})


def applied_queue(s: JobStore, ctx: Ctx) -> bool:
    waiting = s.get(ctx["a"]).waiting
    assert waiting in ((), ({"target": 1},))
    return bool(waiting)


def redo_queue(s: JobStore, ctx: Ctx, applied: bool) -> None:
    s.queue(ctx["a"], {"target": 1})
    assert s.get(ctx["a"]).waiting == ({"target": 1},)
    note = s.pull_notification()
    if ctx["resolved"]:
        assert note is not None and note.waiting == [{"target": 1}]
        note.done(note.waiting)
    else:
        assert note is None


OPS: dict[str, tuple[Callable[..., Ctx], Callable[..., Any], str, Callable[..., bool], Callable[..., None]]] = {
    "create": (setup_create, op_create, "rename", applied_create, redo_create),
    "fulfill": (setup_fulfill(False), op_fulfill, "link", applied_fulfill, redo_fulfill),
    "fulfill_lease": (setup_fulfill(True), op_fulfill, "link", applied_fulfill, redo_fulfill),
    "queue_pending": (setup_queue(False), op_queue, "link", applied_queue, redo_queue),
    "queue_resolved": (setup_queue(True), op_queue, "link", applied_queue, redo_queue),
}


def run_fault(root: Path, op_name: str, fault_on: str, n: int, code: int) -> tuple[FsSpy, bool]:
    setup, op, commit_name, applied, redo = OPS[op_name]
    store = _store(root)
    try:
        ctx = setup(store)
        before = tree(root)
        fault = nth(fault_on, n, code, partial_write=True)
        spy = FsSpy(fault=fault)
        with spy.installed():
            with pytest.raises(OSError) as raised:
                op(store, ctx)
        assert raised.value.errno == code, f"raised {raised.value!r}, not errno {errno.errorcode[code]}"
        assert fault.failed_at is not None
        # Whether the publishing call ran before the failing one.
        published = any(c.name == commit_name for c in spy.calls[: fault.failed_at - 1])
        # No partial file is visible; the failing call removed its temp file.
        check_files(root)
        assert os.listdir(root / "tmp") == [], f"temp files left: {os.listdir(root / 'tmp')}"
        is_applied = applied(store, ctx)
        assert is_applied == published, f"published={published} but applied={is_applied}"
        if not published:
            after = files_only(tree(root))
            assert after == files_only(before), (
                f"files changed by a failed {op_name}: "
                f"{sorted(set(after.items()) ^ set(files_only(before).items()))}")
        observe(store)
        # Still usable: the same store object redoes the operation, then a whole job life.
        redo(store, ctx, is_applied)
        extra = store.create({"after": "fault"})
        while (lease := store.pull_work()) is not None:
            with lease:
                lease.fulfill("ok")
        assert store.get(extra.id).value == b"ok"
        observe(store)
        assert_check_clean(store)
        return spy, published
    finally:
        store.close()


# create publishes with rename (replace); fulfil and queue with link (create-if-absent).
NOT_MADE = {("create", "link"), ("fulfill", "rename"), ("fulfill_lease", "rename"),
            ("queue_pending", "rename"), ("queue_resolved", "rename")}


@pytest.mark.parametrize("code", [ENOSPC, EIO], ids=["ENOSPC", "EIO"])
@pytest.mark.parametrize(("op_name", "fault_on"),
                         [(op, call) for op in OPS for call in ("write", "fsync", "rename", "link")
                          if (op, call) not in NOT_MADE])
def test_disk_fault(op_name: str, fault_on: str, code: int, tmp_path: Path,
                    request: pytest.FixtureRequest) -> None:
    # How many such calls the operation makes, from a clean run.
    setup, op, *_ = OPS[op_name]
    probe = _store(tmp_path / "probe")
    ctx = setup(probe)
    counting = FsSpy()
    with counting.installed():
        op(probe, ctx)
    probe.close()
    calls = len(counting.counted(fault_on))
    request.node.user_properties.append(("cases", calls))
    assert calls > 0, f"{op_name} made no {fault_on} call: {counting.calls}"
    outcomes = []
    for n in range(1, calls + 1):
        _, published = run_fault(tmp_path / f"n{n}", op_name, fault_on, n, code)
        outcomes.append("after publishing" if published else "unchanged")
    print(f"{op_name} {fault_on} {errno.errorcode[code]}: {calls} cases: {outcomes}")


# -- the error names the errno ------------------------------------------------------------

def test_enospc_on_create_is_a_clear_error_and_nothing_is_written(tmp_path: Path) -> None:
    store = _store(tmp_path / "store")
    before = tree(tmp_path)
    spy = FsSpy(fault=nth("write", 1, ENOSPC, partial_write=True))
    with spy.installed(), pytest.raises(OSError) as raised:
        store.create({"big": "x" * 100_000})
    assert raised.value.errno == ENOSPC and "No space left on device" in str(raised.value)
    after = tree(tmp_path)
    # (the job's bucket, made before its record was written, stays empty until a purge)
    bucket = os.path.join("store", "pending", os.listdir(tmp_path / "store" / "pending")[0])
    assert after == {**before, bucket: None} and os.listdir(tmp_path / bucket) == []
    assert list(store.jobs()) == []
    store.purge()
    assert tree(tmp_path) == {**before, os.path.join("store", "maintenance.lock"): b""}, "the bucket removed"
    store.close()


# -- ESTALE -------------------------------------------------------------------------------

def estale_reads(times: int | None) -> Callable[..., Any]:
    """Fail the first *times* read-opens of store files (None: all of them) with ESTALE."""
    left = {"n": times}

    def fault(call: Any) -> Any:
        if call.name != "open" or call.args[1] & (os.O_CREAT | os.O_DIRECTORY | os.O_WRONLY | os.O_RDWR):
            return None
        if left["n"] is None:
            return oserror(ESTALE)
        if left["n"] > 0:
            left["n"] -= 1
            return oserror(ESTALE)
        return None

    return fault


@pytest.mark.parametrize("times", range(1, fsio._ESTALE_RETRIES))
def test_a_few_estale_reads_are_retried(tmp_path: Path, times: int) -> None:
    store = _store(tmp_path / "store")
    a = store.create({"job": "a"})
    store.fulfill(a.id, "value-a")
    spy = FsSpy(fault=estale_reads(times))
    with spy.installed():
        job = store.get(a.id)
    assert job.value == b"value-a"
    file_opens = [c for c in spy.counted("open") if not c.args[1] & os.O_DIRECTORY]  # not the listings
    assert len(file_opens) == times + 1 + len(job.waiting)
    store.close()


def test_estale_on_every_read_is_a_clear_error(tmp_path: Path) -> None:
    store = _store(tmp_path / "store")
    a = store.create({"job": "a"})
    spy = FsSpy(fault=estale_reads(None))
    with spy.installed(), pytest.raises(OSError) as raised:
        store.get(a.id)
    assert raised.value.errno == ESTALE
    file_opens = [c for c in spy.counted("open") if not c.args[1] & os.O_DIRECTORY]  # not its bucket's folder
    assert len(file_opens) == fsio._ESTALE_RETRIES  # retried, then given up
    assert store.get(a.id).state == "pending"
    store.close()


def test_estale_on_os_read_is_retried_too(tmp_path: Path) -> None:
    store = _store(tmp_path / "store")
    job = store.create({"job": "a"})
    real_read = os.read
    left = {"n": 2}

    class ReadFault:
        def __getattr__(self, name: str) -> Any:
            return getattr(fsio_os, name)

        @staticmethod
        def read(fd: int, size: int) -> bytes:
            if left["n"]:
                left["n"] -= 1
                raise oserror(ESTALE)
            return real_read(fd, size)

    fsio_os = fsio.os
    fsio.os = ReadFault()  # type: ignore[assignment]
    try:
        assert store.get(job.id).request == {"job": "a"}
    finally:
        fsio.os = fsio_os
    assert left["n"] == 0
    store.close()


def test_a_few_estale_reads_in_every_operation_are_absorbed(tmp_path: Path) -> None:
    store = _store(tmp_path / "store")
    spy = FsSpy()
    with spy.installed():
        for step in range(8):
            spy.fault = estale_reads(2)
            if step == 0:
                a = store.create({"job": "a"}).id
            elif step == 1:
                store.queue(a, "t1")
            elif step == 2:
                lease = store.pull_work()
                assert lease is not None and lease.id == a
            elif step == 3:
                lease.fulfill("value-a")
            elif step == 4:
                assert [job.id for job in store.jobs()] == [a]
            elif step == 5:
                assert store.stats()["fulfilled"] == 1
            elif step == 6:
                note = store.pull_notification()
                assert note is not None and note.waiting == ["t1"]
            else:
                note.done(note.waiting)
    assert store.get(a).waiting == () and store.get(a).value == b"value-a"
    assert_check_clean(store, frozenset())
    store.close()


def test_estale_on_every_read_in_pull_work_is_reported_and_the_job_stays_pullable(tmp_path: Path) -> None:
    """A read that fails for good in pull_work must not leave the job leased by a
    pull that returned nothing: once the fault clears, the job is pulled."""
    store = _store(tmp_path / "store")
    a = store.create({"job": "a"}).id
    spy = FsSpy(fault=estale_reads(None))
    with spy.installed(), pytest.raises(OSError) as raised:
        store.pull_work()
    assert raised.value.errno == ESTALE
    assert store.get(a).state == "pending", (
        f"a failed pull left the job {store.get(a).state} (lease files: {os.listdir(tmp_path / 'store/leases/work')})")
    lease = store.pull_work()
    assert lease is not None and lease.id == a
    lease.release()
    store.close()


def test_eio_reading_a_pending_record_in_pull_work_leaves_no_lease(tmp_path: Path) -> None:
    store = _store(tmp_path / "store")
    store.create({"job": "a"})
    spy = FsSpy(fault=lambda call: oserror(EIO) if call.name == "open" and "/pending/" in str(call.args[0]) else None)
    with spy.installed(), pytest.raises(OSError):
        store.pull_work()
    assert os.listdir(tmp_path / "store/leases/work") == [], "the failed pull kept a lease on the job"
    store.close()


# -- descriptors ----------------------------------------------------------------------------

def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd to count descriptors")
@pytest.mark.parametrize("durable", [True, False], ids=["durable", "nosync"])
def test_operations_do_not_leak_descriptors(tmp_path: Path, durable: bool) -> None:
    """A long-running process must not run out of descriptors (EMFILE): after a
    warm-up (folders whose descriptors are cached), operations keep none open."""
    store = _store(tmp_path / "store", durable)
    warm = store.create("warm-up").id
    store.queue(warm, "t")
    store.fulfill(warm, "v")
    store.queue(warm, "t2")
    store.purge(older_than=0)
    ids = [store.create({"n": n}).id for n in range(100)]
    start = _open_fds()
    for job_id in ids:
        store.queue(job_id, "t")
    after_queue = _open_fds()
    for _ in ids:
        with store.pull_work() as lease:
            lease.fulfill("v")
    while (note := store.pull_notification()) is not None:
        note.done(note.waiting)
    end = _open_fds()
    store.close()
    assert after_queue - start <= 2, f"100 queue() calls left {after_queue - start} more descriptors open"
    assert end - start <= 2, f"100 job lives left {end - start} more descriptors open"


def _fail_the_due_marker(code: int | None) -> Callable[[Call], BaseException | None]:
    """A fault on the call that makes a due marker: OSError(*code*), or a crash."""
    def fault(call: Call) -> BaseException | None:
        if call.name == "open" and "/due/" in str(call.args[0]):
            return Crash() if code is None else oserror(code)
        return None
    return fault


@pytest.mark.parametrize("code", [ENOSPC, EIO, None], ids=["ENOSPC", "EIO", "crash"])
@pytest.mark.parametrize("step", ["queue", "fulfill", "fulfill_lease"])
def test_a_resolved_job_with_targets_becomes_due_whatever_step_failed(tmp_path: Path, step: str,
                                                                      code: int | None) -> None:
    """The target is written, the marker is not: no person (no check --repair) is
    needed for the target to be handed to the next notifier."""
    root = tmp_path / "store"
    store = _store(root)
    job = store.create({"job": 1}).id
    if step == "queue":
        store.fulfill(job, "v")
    else:
        store.queue(job, "t")
    lease = store.pull_work() if step == "fulfill_lease" else None
    with FsSpy(fault=_fail_the_due_marker(code)).installed(), pytest.raises((OSError, Crash)):
        if step == "queue":
            store.queue(job, "t")
        else:
            store.fulfill(job, "v", lease=lease)
    if code is None:
        die(store)
    else:
        store.close()
    notifier = _store(root)
    try:
        note = notifier.pull_notification()
        assert note is not None and note.id == job and note.waiting == ["t"], "the target is stranded"
        note.done(note.waiting)
        assert notifier.get(job).waiting == ()
        # What is left is a pending record beside the result, which the next puller
        # past the job (once a dead holder's lease expired) removes.
        assert {problem.kind for problem in notifier.check().problems} <= {"half-resolved"}
    finally:
        notifier.close()
