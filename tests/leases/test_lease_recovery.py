"""Regressions for lease recovery: the renewal thread, holder replacement, purged
holders, paused pullers, failed claims, failed fences and releases, and fork."""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from invariants import in_child
from leasing import lease_folder
from test_lease import until

import fsjobstore._leases.clock as lease_clock
from fsjobstore import JobStore, LeaseLost
from fsjobstore._files import fsio
from fsjobstore._leases import Lease
from fsjobstore.errors import Loss, LossReason

L = 1.0  # lease_seconds for the fake-clock tests


# -- helpers ----------------------------------------------------------------------------


def work_lease_path(store: JobStore, job_id: str) -> str:
    return os.path.join(store.path, "leases", "work", job_id)


def holders_path(store: JobStore) -> str:
    return os.path.join(store.path, "leases", "holders")


def renewed_names(store: JobStore) -> list[str]:
    """The names the store's renewal thread keeps alive."""
    return sorted(store.context.renewer.renewing)


def freeze_renewer(store: JobStore) -> None:
    """Stop the store's renewal thread for good: leases are still tracked (and are
    renewed only when the test calls renew()), but no thread ever renews them."""
    store.context.renewer.freeze()


def pull_eventually(pull: Callable[[], Any], clock: Any, step: float, limit: float) -> tuple[Any, float]:
    """Call *pull* until it returns something, advancing the fake clock by *step*
    between calls, at most *limit* in all; return what it got and the time advanced."""
    advanced = 0.0
    while True:
        got = pull()
        if got is not None or advanced >= limit:
            return got, advanced
        clock.advance(step)
        advanced += step


def poll(pull: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """Call *pull* (real time) until it returns something or *timeout* passes."""
    deadline = time.monotonic() + timeout
    while True:
        got = pull()
        if got is not None or time.monotonic() >= deadline:
            return got
        time.sleep(interval)


# -- A: every due lease of a holder is renewed, checked and probed ------------------------


@pytest.mark.parametrize("victim", [0, 1], ids=["first-in-renewer", "second-in-renewer"])
def test_cancelling_either_of_two_leases_compromises_exactly_that_one(
    open_store: Callable[..., JobStore], victim: int
) -> None:
    seconds = 0.6
    store = open_store(lease_seconds=seconds, watch=False)
    created = {store.create({"n": i}).id for i in range(2)}
    leases = [store.pull_work(), store.pull_work()]
    assert all(lease is not None for lease in leases)
    by_id = {lease.id: lease for lease in leases}
    assert set(by_id) == created
    # Both leases are links to the one holder's record; the renewal thread's order
    # of its set decides which of them it meets first: cancel each position.
    order = list(store.context.renewer.renewing)
    assert sorted(order) == sorted(created)
    assert len({by_id[name].name_lease.holder for name in order}) == 1
    cancelled, kept = by_id[order[victim]], by_id[order[1 - victim]]
    store.cancel(cancelled.id)
    assert until(lambda: cancelled.compromised, 15.0), "the renewal thread never noticed the cancellation"
    assert cancelled.loss == Loss(LossReason.RESOLVED_ELSEWHERE)
    # Several more renewal rounds: the other lease stays ours and renewed.
    before = fsio.read(work_lease_path(store, kept.id))
    assert until(lambda: fsio.read(work_lease_path(store, kept.id)) != before, 10.0)
    time.sleep(3 * seconds)
    assert not kept.compromised
    assert renewed_names(store) == [kept.id]
    assert store.get(cancelled.id).state == "cancelled"
    assert kept.fulfill("ok").state == "fulfilled"


# -- B: a lease added to the renewer is renewed when due, whatever the thread slept on -----


@pytest.mark.parametrize("seconds", [1.0, 3.0])  # (before the fix only leases >= 3 s were not woken for)
def test_a_default_length_lease_after_a_long_one_is_renewed_and_never_taken_over(
    open_store: Callable[..., JobStore], seconds: float
) -> None:
    worker = open_store(lease_seconds=seconds, watch=False)
    contender = open_store(lease_seconds=seconds, watch=False)
    long_job = worker.create({"n": "long"}, lease_seconds=60).id
    long_lease = worker.pull_work()
    assert long_lease is not None and long_lease.id == long_job
    assert long_lease.name_lease.seconds == 60.0  # the renewal thread now sleeps ~20 s
    time.sleep(0.3)
    short_job = worker.create({"n": "short"}).id
    short_lease = worker.pull_work()
    assert short_lease is not None and short_lease.id == short_job
    assert short_lease.name_lease.seconds == seconds
    lost: list[str] = []
    short_lease.name_lease.watch(lambda held: lost.append(held.reason))
    # Its record beats within a renewal period or so, not when the long lease is due.
    path = work_lease_path(worker, short_job)
    before = fsio.read(path)
    assert until(lambda: fsio.read(path) != before, 0.9 * seconds), "the new lease was not renewed in time"
    # The contender looks for over two lease lengths of its own clock.
    deadline = time.monotonic() + 2.2 * seconds
    taken = []
    while time.monotonic() < deadline:
        got = contender.pull_work()
        if got is not None:
            taken.append(got.id)
            got.release()
        time.sleep(0.05)
    assert taken == [], f"the contender took over a live lease: {taken}"
    assert not short_lease.compromised and lost == []
    assert not long_lease.compromised
    assert short_lease.fulfill("short done").state == "fulfilled"
    assert long_lease.fulfill("long done").state == "fulfilled"
    assert lost == []


# -- C: a holder replaced after one failed beat keeps its descriptor for its leases -------


@pytest.mark.parametrize("failing", ["fsync", "pwrite"])
def test_one_failed_beat_of_an_idle_holder_replaces_it_without_closing_it(
    open_store: Callable[..., JobStore], fake_clock: Any, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    store = open_store(lease_seconds=L, durable=True, watch=False)
    freeze_renewer(store)
    store.create(1)
    store.create(2)
    first = store.pull_work()
    assert first is not None
    old = first.name_lease.holder
    old_fd = old.fd
    fake_clock.advance(L / 3 + 0.01)  # the holder is idle ("stale"): it beats before linking
    assert old.stale

    real = getattr(os, failing)
    failures = []

    def fails_once(fd: int, *args: Any) -> Any:
        if fd == old_fd and not failures and threading.current_thread() is threading.main_thread():
            failures.append(fd)
            raise OSError(errno.EIO, "Input/output error")
        return real(fd, *args)

    monkeypatch.setattr(os, failing, fails_once)
    second = store.pull_work()
    monkeypatch.setattr(os, failing, real)
    assert failures == [old_fd], f"the injected {failing} failure was never hit"
    assert second is not None and second.id != first.id
    new = second.name_lease.holder
    assert new is not old and new.token != old.token
    assert store.context.holders.current[L] is new
    # The old holder is retired, not closed: its lease still renews through it.
    assert old.fd == old_fd
    os.fstat(old_fd)
    assert new.fd != old_fd
    assert not first.compromised and not second.compromised
    first.name_lease.renew()  # the renewal thread's next beat of the old lease
    second.name_lease.renew()
    assert not first.compromised and not second.compromised

    def assert_tokens() -> None:
        first_record = fsio.read(work_lease_path(store, first.id))
        second_record = fsio.read(work_lease_path(store, second.id))
        assert old.token.encode() in first_record and new.token.encode() not in first_record
        assert new.token.encode() in second_record and old.token.encode() not in second_record
        for token in os.listdir(holders_path(store)):
            assert token.encode() in fsio.read(os.path.join(holders_path(store), token)), \
                f"holder file {token} carries another holder's record"

    assert_tokens()
    fake_clock.advance(L * 0.6)  # past the trust window: check() beats both holders
    first.name_lease.check()
    second.name_lease.check()
    assert_tokens()
    assert first.fulfill("one").state == "fulfilled"
    assert second.fulfill("two").state == "fulfilled"
    assert not first.compromised and not second.compromised


# -- D: a holder record purged while idle -------------------------------------------------


@pytest.mark.parametrize("idle", [0.0, 2.1], ids=["fresh", "stale"])
def test_a_per_job_length_claim_after_its_holder_was_purged_is_not_compromised(
    open_store: Callable[..., JobStore], fake_clock: Any, idle: float
) -> None:
    store = open_store(lease_seconds=L, watch=False)
    store.create(1, lease_seconds=6)
    done = store.pull_work()
    assert done is not None
    done.fulfill("ok")
    purged = store.context.holders.current[6.0]
    os.unlink(os.path.join(holders_path(store), purged.token))  # what purge does an hour later
    fake_clock.advance(idle)
    for n in (2, 3):
        job = store.create(n, lease_seconds=6).id
        lease = store.pull_work()
        assert lease is not None and lease.id == job
        assert not lease.compromised, lease.loss
        assert lease.name_lease.seconds == 6.0
        assert lease.name_lease.holder is not purged
        assert lease.name_lease.token.encode() in fsio.read(work_lease_path(store, job))
        lease.name_lease.check()
        assert lease.fulfill(f"done {n}").state == "fulfilled"


def test_a_take_over_after_our_holder_was_purged_works(open_store: Callable[..., JobStore], fake_clock: Any) -> None:
    store = open_store(lease_seconds=L, watch=False)
    dead = open_store(lease_seconds=L, watch=False)
    store.create(0)
    first = store.pull_work()
    assert first is not None
    first.fulfill("ok")  # store's default-length holder now exists, idle
    job = store.create(4).id
    stale = dead.pull_work()
    assert stale is not None and stale.id == job
    dead.context.renewer.stop()  # the other holder dies holding the job
    fake_clock.advance(L / 4)  # a sweep is due
    assert store.pull_work() is None  # first look at its record
    ours = store.context.holders.current[L]
    os.unlink(os.path.join(holders_path(store), ours.token))  # purge by another host
    fake_clock.advance(L + 0.1)
    got = store.pull_work()  # must not raise FileNotFoundError
    assert got is not None and got.id == job
    assert not got.compromised
    assert got.name_lease.holder is not ours
    assert got.name_lease.token.encode() in fsio.read(work_lease_path(store, job))
    assert got.attempts == 1
    assert got.fulfill("taken over").state == "fulfilled"
    with pytest.raises(LeaseLost):
        stale.fulfill("late")


# -- E: a puller paused between acquire and set_seconds -----------------------------------


def test_a_puller_paused_before_set_seconds_does_not_take_back_a_taken_over_lease(
    open_store: Callable[..., JobStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    seconds = 1.0
    worker = open_store(lease_seconds=seconds, watch=False)
    contender = open_store(lease_seconds=seconds, watch=False)
    job = worker.create("x", lease_seconds=30).id
    original = Lease.set_seconds
    paused, resume = threading.Event(), threading.Event()

    def paused_set_seconds(self: Lease, length: float) -> None:
        if worker.context.work_leases.held.get(self.name) is self and not paused.is_set():
            worker.context.renewer.stop()  # the whole worker is paused (GC, SIGSTOP, VM freeze)...
            paused.set()
            resume.wait(60.0)  # ...until its lease has been taken over
        original(self, length)

    monkeypatch.setattr(Lease, "set_seconds", paused_set_seconds)
    result: dict[str, Any] = {}

    def pull() -> None:
        try:
            result["lease"] = worker.pull_work()
        except BaseException as exc:  # noqa: BLE001 - reported below
            result["error"] = exc

    thread = threading.Thread(target=pull)
    thread.start()
    try:
        assert paused.wait(30.0), "the worker never reached set_seconds"
        taken = poll(contender.pull_work, 30.0)
    finally:
        resume.set()
        thread.join(60.0)
    assert not thread.is_alive()
    assert "error" not in result, result.get("error")
    assert taken is not None and taken.id == job, "the contender never took the paused worker's lease over"
    mine = result["lease"]
    assert mine is None or mine.id != job, "the paused worker took back the contender's lease"
    assert job not in worker.context.work_leases.held
    assert job not in renewed_names(worker)
    assert not taken.compromised, taken.loss
    record = fsio.read(work_lease_path(contender, job))
    assert taken.name_lease.token.encode() in record
    taken.name_lease.check()
    assert taken.fulfill("contender").state == "fulfilled"
    assert worker.get(job).value == b"contender"


# -- F: a claim that fails after its take-over gives the leases back ---------------------


@pytest.mark.parametrize("with_resource", [False, True], ids=["plain", "resource"])
def test_enospc_while_taking_over_gives_the_lease_back(
    open_store: Callable[..., JobStore], fake_clock: Any, monkeypatch: pytest.MonkeyPatch, with_resource: bool
) -> None:
    store = open_store(lease_seconds=L, watch=False)
    other = open_store(lease_seconds=L, watch=False)
    dead = open_store(lease_seconds=L, watch=False)
    job = store.create("x", resource="printer" if with_resource else None).id
    stale = dead.pull_work()
    assert stale is not None and stale.id == job
    if with_resource:
        [slot] = stale.slot_leases
        slot.release()  # only its work lease is left to expire
    dead.context.renewer.stop()  # its holder dies

    def enospc(record: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.context, "write_pending", enospc)
    assert store.pull_work() is None  # first look
    fake_clock.advance(L + 0.1)
    with pytest.raises(OSError) as raised:
        store.pull_work()
    assert raised.value.errno == errno.ENOSPC
    monkeypatch.undo()  # the disk has space again (the fake clock stays: it is not monkeypatch's)
    monkeypatch.setattr(lease_clock, "now", fake_clock.monotonic)
    assert job not in store.context.work_leases.held
    assert job not in renewed_names(store)
    assert renewed_names(store) == []
    assert store.context.resource_leases.held == {}
    assert os.listdir(os.path.join(store.path, "leases", "resource")) == []
    try:
        record = fsio.read(work_lease_path(store, job))
    except FileNotFoundError:
        record = b""
    assert all(holder.token.encode() not in record for holder in store.context.holders.current.values())
    got, advanced = pull_eventually(other.pull_work, fake_clock, L / 4, 2 * L)
    assert got is not None and got.id == job, "nobody got the job back within two lease lengths"
    assert advanced <= 2 * L
    assert not got.compromised
    assert got.fulfill("recovered").state == "fulfilled"


# -- H: a notification whose fence check failed is released --------------------------------


def test_a_failed_fence_in_push_releases_the_notification_lease(
    open_store: Callable[..., JobStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_read = fsio.read
    armed: list[bool] = []
    failed: list[str] = []

    def read_fails_once(path: str) -> bytes:
        if armed and not failed and os.sep + os.path.join("leases", "notify") + os.sep in path:
            failed.append(path)
            raise OSError(errno.EIO, "Input/output error")
        return real_read(path)

    def notify(target: Any, job: Any) -> None:
        armed.append(True)  # the fence's re-read, right after delivery, fails once
        raise RuntimeError("endpoint down")  # delivery failed: the target stays due

    monkeypatch.setattr(fsio, "read", read_fails_once)
    store = open_store(lease_seconds=1.5, watch=False, notify=notify)
    other = open_store(lease_seconds=1.5, watch=False)
    store.create("keep me busy")
    busy = store.pull_work()  # another lease of the same holder, renewed all along
    assert busy is not None
    job = store.create("x").id
    store.queue(job, "t")
    lease = store.pull_work()
    assert lease is not None and lease.id == job
    lease.fulfill("done")  # _push -> note.done -> check fails -> LeaseLost (logged)
    assert failed, "the injected read failure was never hit"
    assert os.listdir(os.path.join(store.path, "leases", "notify")) == []
    assert store.context.note_leases.held == {}
    assert job not in renewed_names(store)
    note = poll(other.pull_notification, 10.0)
    assert note is not None and note.id == job, "no other notifier got the due job"
    assert note.waiting == ["t"]
    note.done(note.waiting)
    assert not busy.compromised


# -- I: a failed unlink at release is retried by the next sweep --------------------------------


def test_a_lease_whose_unlink_failed_is_removed_at_the_next_sweep(
    open_store: Callable[..., JobStore], fake_clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(lease_seconds=L, watch=False)
    other = open_store(lease_seconds=L, watch=False)
    store.create("a")
    store.create("b")
    keep, drop = store.pull_work(), store.pull_work()
    assert keep is not None and drop is not None
    path = work_lease_path(store, drop.id)
    real_remove = fsio.remove
    failed: list[str] = []

    def eio_once(target: str) -> bool:
        if target == path and not failed:
            failed.append(target)
            raise OSError(errno.EIO, "Input/output error")
        return real_remove(target)

    monkeypatch.setattr(fsio, "remove", eio_once)
    drop.release()  # logs a warning, remembers the link
    assert failed == [path]
    assert os.path.exists(path)
    assert drop.id not in store.context.work_leases.held
    assert other.pull_work() is None  # still linked: kept alive by keep's beats
    fake_clock.advance(L / 4 + 0.01)
    assert store.context.work_leases.sweep_due()
    store.context.work_leases.sweep()
    assert not os.path.exists(path), "the sweep did not remove the orphaned link"
    assert os.path.exists(work_lease_path(store, keep.id))
    got = other.pull_work()
    assert got is not None and got.id == drop.id
    assert got.fulfill("b done").state == "fulfilled"
    assert not keep.compromised
    assert keep.fulfill("a done").state == "fulfilled"
    assert store.context.work_leases.orphans == frozenset()


def test_an_orphaned_link_is_also_removed_by_pull_works_sweep(
    open_store: Callable[..., JobStore], fake_clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(lease_seconds=L, watch=False)
    other = open_store(lease_seconds=L, watch=False)
    store.create("a")
    store.create("b")
    keep, drop = store.pull_work(), store.pull_work()
    assert keep is not None and drop is not None
    path = work_lease_path(store, drop.id)
    real_remove = fsio.remove
    failed: list[str] = []

    def eio_once(target: str) -> bool:
        if target == path and not failed:
            failed.append(target)
            raise OSError(errno.EIO, "Input/output error")
        return real_remove(target)

    monkeypatch.setattr(fsio, "remove", eio_once)
    drop.release()
    assert failed == [path] and os.path.exists(path)
    fake_clock.advance(L / 4 + 0.01)
    # The owner's next pull sweeps first (and lists no job, so only the sweep acts).
    monkeypatch.setattr(store.context.pending, "names", lambda: [])
    assert store.pull_work() is None
    assert not os.path.exists(path), "the owner's sweep did not remove the orphaned link"
    got = other.pull_work()
    assert got is not None and got.id == drop.id
    assert got.name_lease.token.encode() in fsio.read(path)
    assert got.fulfill("b").state == "fulfilled"
    assert keep.fulfill("a").state == "fulfilled"
    assert store.context.work_leases.orphans == frozenset()


# -- K: a forked child never uses the parent's leases -----------------------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork() in a process with threads (3.12+)
def test_a_forked_childs_inherited_lease_is_released_in_the_child(open_store: Callable[..., JobStore]) -> None:
    store = open_store(lease_seconds=1.5, watch=False)
    job = store.create("x").id
    lease = store.pull_work()
    assert lease is not None and lease.id == job
    held = lease.name_lease
    path = work_lease_path(store, job)
    before_token = held.token

    def child_work() -> str:
        try:
            held.check()
        except LeaseLost:
            pass
        else:
            raise AssertionError("the child could check the parent's lease as its own")
        with pytest.raises(LeaseLost):
            lease.fulfill("from the child")
        held.release()
        lease.release()
        assert os.path.exists(path), "the child removed the parent's lease file"
        assert before_token.encode() in fsio.read(path)
        return "ok"

    assert in_child(child_work) == "ok"
    assert os.path.exists(path)
    assert before_token.encode() in fsio.read(path)
    assert not held.released and not held.compromised
    lease.name_lease.check()
    assert store.get(job).state == "running"
    assert lease.fulfill("parent").state == "fulfilled"


# -- a lease name replaced by a symlink ----------------------------------------------------------


@pytest.fixture
def symlinked_lease(open_store: Callable[..., JobStore]) -> Iterator[tuple[JobStore, Any]]:
    store = open_store(lease_seconds=1.5, watch=False)
    store.create("x")
    lease = store.pull_work()
    assert lease is not None
    path = work_lease_path(store, lease.id)
    # Pointing at our own holder's record: following it would find our token.
    os.unlink(path)
    os.symlink(lease.name_lease.holder.path, path)
    yield store, lease


def test_a_lease_name_replaced_by_a_symlink_is_lost_on_check(symlinked_lease: tuple[JobStore, Any]) -> None:
    store, lease = symlinked_lease
    with pytest.raises(LeaseLost):
        lease.name_lease.check()
    assert lease.compromised
    with pytest.raises(LeaseLost):
        lease.fulfill("through the symlink")
    assert store.get(lease.id).state != "fulfilled"


def test_a_lease_name_replaced_by_a_symlink_is_lost_on_renewal(symlinked_lease: tuple[JobStore, Any]) -> None:
    _, lease = symlinked_lease
    lease.name_lease.renew()  # what the renewal thread does: must not raise CorruptJobFile
    assert lease.compromised
    assert lease.loss is not None and lease.loss.reason is LossReason.UNREADABLE


# -- a dead contender's .break file ------------------------------------------------------------


def test_a_dead_contenders_break_file_is_cleared_after_a_lease_and_then_forgotten(
    tmp_path: Any, fake_clock: Any
) -> None:
    from test_lease import L, ManualRenewer

    from fsjobstore._files.folders import Folder

    (tmp_path / "leases").mkdir()
    folder = Folder(str(tmp_path / "leases"))
    holder = lease_folder(folder, L, ManualRenewer())
    contender = lease_folder(folder, L, ManualRenewer())
    held = holder.acquire("job")
    assert held is not None
    breaker = tmp_path / "leases" / "job.break"
    breaker.write_text("")  # a contender died holding its turn

    def expire() -> None:
        contender.sweep()  # (each try at taking over starts the count again)
        fake_clock.advance(L)
        assert contender.sweep() == ["job"]

    expire()
    assert contender.take_over("job") is None  # not its turn: it starts watching the .break
    breaker.unlink()
    time.sleep(0.05)  # past the file-time granularity: the new file's ctime differs
    breaker.write_text("")  # another contender's (ext4 may well reuse the inode number)
    expire()
    assert contender.take_over("job") is None and breaker.exists(), "the new file's count starts now"
    expire()
    assert contender.take_over("job") is None  # unchanged for a whole lease: removed
    assert not breaker.exists()
    contender.sweep()
    assert contender.breakers == frozenset()  # forgotten once gone
    expire()
    taken = contender.take_over("job")
    assert taken is not None
    with pytest.raises(LeaseLost):
        held.check()
    taken.release()
