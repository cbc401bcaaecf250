"""Leases: acquire, renew, expire by an unchanged record, take over, fence."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from leasing import lease_folder

from fsjobstore import JobStore, LeaseLost, NotificationLease, WorkLease
from fsjobstore._files import fsio
from fsjobstore._files.folders import Folder
from fsjobstore._leases import Lease, LeaseFolder, Renewer
from fsjobstore.errors import Loss, LossReason

L = 1.0  # lease_seconds for the fake-clock tests: only its ratio to the steps matters


@pytest.fixture
def lease_dir(tmp_path: Path) -> Folder:
    (tmp_path / "leases").mkdir()
    return Folder(str(tmp_path / "leases"))


class ManualRenewer:
    """Stands in for a store's Renewer: keeps the leases, renews only when a test says so."""

    def __init__(self) -> None:
        self.held: set[Lease] = set()

    def add(self, held: Lease) -> None:
        self.held.add(held)

    def discard(self, held: Lease) -> None:
        self.held.discard(held)

    def wake(self) -> None:
        pass

    def release_all(self) -> None:
        for held in list(self.held):
            held.release()


@pytest.fixture
def renewer() -> Iterator[Callable[[], ManualRenewer]]:
    made: list[ManualRenewer] = []

    def make() -> ManualRenewer:
        made.append(ManualRenewer())
        return made[-1]

    yield make
    for each in made:
        each.release_all()


@pytest.fixture
def folders(lease_dir: Folder, renewer: Callable[[], ManualRenewer]) -> Callable[[], LeaseFolder]:
    """LeaseFolder objects on one folder, each as a separate process would see it."""
    return lambda: lease_folder(lease_dir, L, renewer())


def raw_record(folder: LeaseFolder, name: str) -> bytes | None:
    """The raw record of the lease on *name*, or None if it is free."""
    try:
        return fsio.read(folder.folder.join(name))
    except FileNotFoundError:
        return None


def record(folder: LeaseFolder, name: str) -> dict[str, Any]:
    raw = raw_record(folder, name)
    assert raw is not None
    return json.loads(raw)


def until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


# -- LeaseFolder and Lease directly ---------------------------------------------------------


def test_acquire_is_exclusive_and_release_frees(folders: Callable[[], LeaseFolder], fake_clock: Any) -> None:
    a, b = folders(), folders()
    held = a.acquire("job")
    assert isinstance(held, Lease)
    assert a.acquire("job") is None
    assert b.acquire("job") is None
    assert b.is_held("job")
    content = record(b, "job")
    assert content["token"] == held.token
    assert content["pid"] == os.getpid()
    assert set(content) >= {"token", "host", "pid", "beat"}
    other = b.acquire("other")
    assert other is not None and other.token != held.token
    held.release()
    assert held.released
    assert not b.is_held("job") and raw_record(b, "job") is None
    held.release()  # idempotent
    again = b.acquire("job")
    assert again is not None
    again.release()
    other.release()
    assert os.listdir(a.folder.path) == []


def test_renew_advances_the_record_in_place_and_keeps_the_token(
    folders: Callable[[], LeaseFolder], fake_clock: Any
) -> None:
    a = folders()
    held = a.acquire("job")
    first = raw_record(a, "job")
    held.renew()
    second = raw_record(a, "job")
    assert first != second
    assert len(first) == len(second)
    assert json.loads(second)["token"] == held.token
    assert int(json.loads(second)["beat"]) == int(json.loads(first)["beat"]) + 1
    held.check()
    assert not held.compromised
    held.release()


def test_expiry_is_an_unchanged_record_for_lease_seconds_of_the_contenders_clock(
    folders: Callable[[], LeaseFolder], fake_clock: Any
) -> None:
    holder, contender = folders(), folders()
    held = holder.acquire("job")
    assert contender.sweep() == []  # first sight starts the contender's count
    fake_clock.advance(L - 0.125)
    assert contender.sweep() == []
    fake_clock.advance(0.125)
    assert contender.sweep() == ["job"]
    held.renew()  # alive again: the count starts over from the next look
    assert contender.sweep() == []
    fake_clock.advance(L * 0.875)
    assert contender.sweep() == []
    fake_clock.advance(L * 0.125)
    assert contender.sweep() == ["job"]
    held.release()
    assert contender.sweep() == []


def test_a_late_contender_counts_from_its_own_first_look(folders: Callable[[], LeaseFolder], fake_clock: Any) -> None:
    holder, contender = folders(), folders()
    holder.acquire("job")
    fake_clock.advance(100 * L)  # however old the lease is by the holder's clock...
    assert contender.sweep() == []  # ...the contender has not yet watched it for L
    fake_clock.advance(L)
    assert contender.sweep() == ["job"]


def test_expiry_ignores_file_times(folders: Callable[[], LeaseFolder], fake_clock: Any) -> None:
    holder, contender = folders(), folders()
    holder.acquire("job")
    path = contender.folder.join("job")
    os.utime(path, (0, 0))  # mtime in 1970
    assert contender.sweep() == []
    fake_clock.advance(L / 2)
    os.utime(path, (4e9, 4e9))  # and in 2096: neither counts as a renewal or an expiry
    assert contender.sweep() == []
    fake_clock.advance(L / 2)
    assert contender.sweep() == ["job"]


def test_sweep_is_due_every_quarter_lease(folders: Callable[[], LeaseFolder], fake_clock: Any) -> None:
    a = folders()
    assert a.sweep_due()
    a.sweep()
    assert not a.sweep_due()
    fake_clock.advance(L / 4 - 0.125)
    assert not a.sweep_due()
    fake_clock.advance(0.125)
    assert a.sweep_due()


def test_sweep_ignores_names_being_broken(folders: Callable[[], LeaseFolder], fake_clock: Any) -> None:
    a = folders()
    Path(a.folder.join("job.broken-abc")).write_text("old")
    assert a.sweep() == []
    fake_clock.advance(10 * L)
    assert a.sweep() == []


def test_take_over_of_an_expired_lease(folders: Callable[[], LeaseFolder], fake_clock: Any) -> None:
    holder, contender = folders(), folders()
    held = holder.acquire("job")
    lost: list[Lease] = []
    held.watch(lost.append)
    contender.sweep()
    fake_clock.advance(L)
    assert contender.sweep() == ["job"]
    taken = contender.take_over("job")
    assert taken is not None and taken.token != held.token
    assert record(holder, "job")["token"] == taken.token
    assert sorted(os.listdir(holder.folder.path)) == ["job"]  # no .broken- leftover
    assert lost == []  # the old holder learns it at its next check or renewal
    with pytest.raises(LeaseLost):
        held.check()
    assert lost == [held] and held.compromised
    held.renew()
    with pytest.raises(LeaseLost):
        held.check()
    assert lost == [held], "on_compromised must be called exactly once"
    held.release()  # must not remove the new holder's file
    assert record(holder, "job")["token"] == taken.token
    taken.check()
    taken.release()


def test_a_renewing_holder_finds_out_it_was_taken_over(folders: Callable[[], LeaseFolder], fake_clock: Any) -> None:
    holder, contender = folders(), folders()
    held = holder.acquire("job")
    lost: list[Lease] = []
    held.watch(lost.append)
    contender.sweep()
    fake_clock.advance(L)
    contender.sweep()
    taken = contender.take_over("job")
    assert taken is not None
    held.renew()  # what the renewal thread does
    assert held.compromised and lost == [held]
    held.renew()
    assert lost == [held]
    assert record(holder, "job")["token"] == taken.token  # renewing never touched the new file
    late: list[Lease] = []
    held.watch(late.append)  # watching a lost lease calls back at once
    assert late == [held]
    taken.release()


def test_take_over_needs_a_sweep(folders: Callable[[], LeaseFolder], fake_clock: Any) -> None:
    holder, contender = folders(), folders()
    held = holder.acquire("job")
    assert contender.take_over("job") is None
    held.check()
    assert record(contender, "job")["token"] == held.token
    held.release()


def test_no_take_over_when_the_holder_renewed_since_the_sweep(
    folders: Callable[[], LeaseFolder], fake_clock: Any
) -> None:
    holder, contender = folders(), folders()
    held = holder.acquire("job")
    lost: list[Lease] = []
    held.watch(lost.append)
    contender.sweep()
    fake_clock.advance(L)
    assert contender.sweep() == ["job"]
    held.renew()  # at the last moment
    assert contender.take_over("job") is None
    assert sorted(os.listdir(holder.folder.path)) == ["job"]
    assert record(holder, "job")["token"] == held.token
    held.check()
    held.renew()
    assert not held.compromised and lost == []
    held.release()
    assert os.listdir(holder.folder.path) == []


def test_two_contenders_one_expired_lease_one_winner(folders: Callable[[], LeaseFolder], fake_clock: Any) -> None:
    holder, first, second = folders(), folders(), folders()
    held = holder.acquire("job")
    first.sweep()
    second.sweep()
    fake_clock.advance(L)
    assert first.sweep() == ["job"] and second.sweep() == ["job"]
    won = first.take_over("job")
    lost = second.take_over("job")
    assert won is not None and lost is None
    assert record(holder, "job")["token"] == won.token
    assert sorted(os.listdir(holder.folder.path)) == ["job"]
    with pytest.raises(LeaseLost):
        held.check()
    won.check()
    won.release()


def test_two_contenders_racing_in_threads_one_winner(
    lease_dir: Folder, renewer: Callable[[], ManualRenewer], fake_clock: Any
) -> None:
    owner = lease_folder(lease_dir, L, renewer())
    contenders = [lease_folder(lease_dir, L, renewer()) for _ in range(3)]  # type: ignore[arg-type]
    for attempt in range(100):
        name = f"job{attempt}"
        old = owner.acquire(name)
        for contender in contenders:
            contender.sweep()
        fake_clock.advance(L)
        for contender in contenders:
            assert name in contender.sweep()
        barrier = threading.Barrier(len(contenders))
        results: list[Lease | None] = [None] * len(contenders)

        def run(
            index: int, barrier: threading.Barrier = barrier, results: list[Lease | None] = results, name: str = name
        ) -> None:
            barrier.wait()
            results[index] = contenders[index].take_over(name)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(contenders))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [held for held in results if held is not None]
        assert len(winners) == 1, f"attempt {attempt}: {len(winners)} contenders were handed the lease"
        assert record(owner, name)["token"] == winners[0].token
        with pytest.raises(LeaseLost):
            old.check()
        old.release()
        winners[0].release()
    assert os.listdir(lease_dir.path) == []


def test_take_over_never_hands_one_lease_to_two_contenders(
    folders: Callable[[], LeaseFolder], fake_clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One interleaving of four contenders, all of which saw the same record expire:
    #   C1 moves the lease aside (the name is now absent) and reads it;
    #   C2's rename finds no file, so C2 acquires the name afresh: C2 holds it;
    #   C3 moves C2's new file aside, reads it, sees a record it did not expect;
    #   C4's rename finds no file, so C4 acquires the name afresh: C4 holds it;
    #   C3 cannot link C2's file back (C4's is there) and deletes it; C1 gives up.
    # C2 and C4 were both handed the lease (two pull_work calls would return the job).
    holder, c1, c2, c3, c4 = (folders() for _ in range(5))
    holder.acquire("job")
    for contender in (c1, c2, c3, c4):
        contender.sweep()
    fake_clock.advance(L)
    for contender in (c1, c2, c3, c4):
        assert contender.sweep() == ["job"]
    real_read = fsio.read
    results: dict[str, Lease | None] = {}

    def read(path: str) -> bytes:
        data = real_read(path)
        if ".broken-" in path:
            if "c2" not in results:
                results["c2"] = c2.take_over("job")
                results["c3"] = c3.take_over("job")
            elif "c4" not in results:
                results["c4"] = c4.take_over("job")
        return data

    monkeypatch.setattr(fsio, "read", read)
    results["c1"] = c1.take_over("job")
    monkeypatch.setattr(fsio, "read", real_read)
    winners = sorted(name for name, held in results.items() if held is not None)
    assert len(winners) <= 1, f"{winners} were all handed the same lease"


def test_a_lease_file_deleted_under_its_holder(folders: Callable[[], LeaseFolder], fake_clock: Any) -> None:
    a, b = folders(), folders()
    held = a.acquire("job")
    lost: list[Lease] = []
    held.watch(lost.append)
    os.unlink(a.folder.join("job"))
    held.renew()
    assert held.compromised and lost == [held]
    assert held.loss == Loss(LossReason.REMOVED)
    with pytest.raises(LeaseLost):
        held.check()
    assert lost == [held]
    newcomer = b.acquire("job")
    assert newcomer is not None
    held.release()
    assert record(b, "job")["token"] == newcomer.token
    newcomer.release()


def test_check_renews_an_old_lease_first(folders: Callable[[], LeaseFolder], fake_clock: Any) -> None:
    a = folders()
    held = a.acquire("job")
    first = raw_record(a, "job")
    fake_clock.advance(L * 0.375)
    held.check()  # recent enough: only verified
    assert raw_record(a, "job") == first
    fake_clock.advance(L * 0.25)
    held.check()  # older than half a lease: renewed, then verified
    assert raw_record(a, "job") != first
    assert held.renewed_at == fake_clock.now
    held.release()


def test_check_after_release_is_lease_lost(folders: Callable[[], LeaseFolder], fake_clock: Any) -> None:
    held = folders().acquire("job")
    held.release()
    with pytest.raises(LeaseLost, match="released"):
        held.check()


def test_a_callback_that_raises_is_logged_not_propagated(
    folders: Callable[[], LeaseFolder], fake_clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    held = folders().acquire("job")
    calls: list[Lease] = []

    def callback(lease: Lease) -> None:
        calls.append(lease)
        raise RuntimeError("callback broke")

    held.watch(callback)
    os.unlink(held.path)
    held.renew()
    assert calls == [held]
    assert "callback broke" in caplog.text
    held.release()


def test_the_renewer_thread_renews_every_third_of_a_lease(lease_dir: Folder) -> None:
    background = Renewer()
    try:
        folder = lease_folder(lease_dir, 0.06, background)
        held = folder.acquire("job")
        first = raw_record(folder, "job")
        assert until(lambda: raw_record(folder, "job") != first, 2.0)
        second = raw_record(folder, "job")
        assert until(lambda: raw_record(folder, "job") != second, 2.0)
        background.stop()
        stopped = raw_record(folder, "job")
        time.sleep(0.1)
        assert raw_record(folder, "job") == stopped
        assert not held.compromised
        background.release_all()
        assert held.released and raw_record(folder, "job") is None
    finally:
        background.stop()


# -- through the store ------------------------------------------------------------------


def test_store_takes_over_the_lease_of_a_stopped_holder(open_store: Callable[..., JobStore], fake_clock: Any) -> None:
    old, new = open_store(lease_seconds=L), open_store(lease_seconds=L)
    job = old.create("x")
    told: list[WorkLease] = []
    stale = old.pull_work(on_compromised=told.append)
    assert stale is not None
    old.context.renewer.stop()  # the holder stops (SIGSTOP, hang): nothing renews its lease
    assert new.pull_work() is None  # first look
    fake_clock.advance(L * 0.75)
    assert new.pull_work() is None
    fake_clock.advance(L * 0.25)
    fresh = new.pull_work()
    assert fresh is not None and fresh.id == job.id
    assert fresh.attempts == 1  # the stopped attempt counts
    got = new.get(job.id)
    assert got.state == "running" and got.attempts == 1 and "expired" in got.error
    assert told == []
    with pytest.raises(LeaseLost):
        stale.fulfill("late")
    assert told == [stale] and stale.compromised
    with pytest.raises(LeaseLost):
        stale.fail("late")
    with pytest.raises(LeaseLost):
        old.fail(job.id, "late", lease=stale, retry=True)
    assert told == [stale], "on_compromised must be called exactly once"
    got = new.get(job.id)
    assert (got.state, got.value, got.attempts) == ("running", None, 1)
    stale.release()
    assert new.get(job.id).state == "running"
    done = fresh.fulfill("on time")
    assert (done.state, done.value, done.attempts) == ("fulfilled", b"on time", 1)
    assert new.get(job.id).value == b"on time"


def test_store_two_contenders_for_one_expired_lease(open_store: Callable[..., JobStore], fake_clock: Any) -> None:
    old, first, second = (open_store(lease_seconds=L) for _ in range(3))
    job = old.create("x")
    assert old.pull_work() is not None
    old.context.renewer.stop()
    assert first.pull_work() is None and second.pull_work() is None
    fake_clock.advance(L)
    leases = [first.pull_work(), second.pull_work()]
    winners = [lease for lease in leases if lease is not None]
    assert len(winners) == 1 and winners[0].id == job.id
    assert first.pull_work() is None and second.pull_work() is None
    assert old.get(job.id).attempts == 1
    winners[0].fulfill("v")


def test_store_real_time_takeover_after_lease_seconds(open_store: Callable[..., JobStore]) -> None:
    lease_seconds = 0.4
    old, new = open_store(lease_seconds=lease_seconds), open_store(lease_seconds=lease_seconds)
    job = old.create("x")
    told: list[WorkLease] = []
    stale = old.pull_work(on_compromised=told.append)
    old.context.renewer.stop()
    started = time.monotonic()
    fresh = None
    while fresh is None and time.monotonic() - started < 10 * lease_seconds:
        fresh = new.pull_work()
        time.sleep(0.01)
    waited = time.monotonic() - started
    assert fresh is not None and fresh.id == job.id
    assert waited >= lease_seconds * 0.9
    with pytest.raises(LeaseLost):
        stale.fulfill("late")
    assert told == [stale]
    fresh.fulfill("ok")
    assert old.get(job.id).value == b"ok"


def test_store_a_renewing_holder_is_never_taken_over(open_store: Callable[..., JobStore]) -> None:
    lease_seconds = 0.5
    holder, contender = open_store(lease_seconds=lease_seconds), open_store(lease_seconds=lease_seconds)
    job = holder.create("x")
    told: list[WorkLease] = []
    lease = holder.pull_work(on_compromised=told.append)
    started = time.monotonic()
    while time.monotonic() - started < 3 * lease_seconds:
        assert contender.pull_work() is None
        time.sleep(0.02)
    assert not lease.compromised and told == []
    assert lease.fulfill("mine").value == b"mine"
    assert contender.get(job.id).attempts == 0


def test_store_lease_file_deleted_under_its_holder(open_store: Callable[..., JobStore]) -> None:
    store = open_store(lease_seconds=0.3)
    job = store.create("x")
    told: list[WorkLease] = []
    lease = store.pull_work(on_compromised=told.append)
    os.unlink(os.path.join(store.path, "leases", "work", job.id))
    assert until(lambda: bool(told), 3.0), "the renewal thread never noticed"
    assert told == [lease] and lease.compromised
    with pytest.raises(LeaseLost):
        lease.fulfill("late")
    assert told == [lease]
    got = store.get(job.id)
    assert (got.state, got.value) == ("pending", None)
    again = store.pull_work()
    assert again is not None and again.id == job.id
    lease.release()
    assert store.get(job.id).state == "running"
    again.fulfill("v")


def test_store_notification_lease_lost_changes_nothing(open_store: Callable[..., JobStore], fake_clock: Any) -> None:
    old, new = open_store(lease_seconds=L), open_store(lease_seconds=L)
    job = old.create("x")
    old.queue(job.id, "a")
    old.queue(job.id, "b")
    old.fulfill(job.id, "v")
    told: list[NotificationLease] = []
    stale = old.pull_notification(on_compromised=told.append)
    assert stale is not None
    old.context.renewer.stop()
    assert new.pull_notification() is None
    fake_clock.advance(L)
    fresh = new.pull_notification()
    assert fresh is not None and fresh.id == job.id and fresh.waiting == ["a", "b"]
    with pytest.raises(LeaseLost):
        stale.done(["a", "b"])
    assert told == [stale]
    assert new.get(job.id).waiting == ("a", "b")
    fresh.done(["a"])
    assert new.get(job.id).waiting == ("b",)


def test_store_on_compromised_given_for_an_already_lost_lease_is_called_once(
    open_store: Callable[..., JobStore], fake_clock: Any
) -> None:
    store = open_store(lease_seconds=L)
    job = store.create("x")
    told: list[WorkLease] = []
    lease = store.pull_work(on_compromised=told.append)
    os.unlink(os.path.join(store.path, "leases", "work", job.id))
    for _ in range(3):
        with pytest.raises(LeaseLost):
            lease.fulfill("v")
    assert told == [lease]
    assert store.get(job.id).state == "pending"


def test_an_acquire_racing_a_release_in_another_thread_waits_for_it(
    lease_dir: Folder, renewer: Callable[[], ManualRenewer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A release's unlink and its bookkeeping are one step for the other threads
    of the process: an acquire between the two used to see the name still held
    by this process and give up (a spurious JobBusy)."""
    leases = lease_folder(lease_dir, 30.0, renewer())
    held = leases.acquire("job")
    assert held is not None
    unlinked, resume = threading.Event(), threading.Event()
    real_remove = fsio.remove

    def remove(path: str) -> bool:
        removed = real_remove(path)
        if threading.current_thread() is releaser:
            unlinked.set()
            resume.wait(5)  # the bookkeeping after the unlink is slow
        return removed

    monkeypatch.setattr(fsio, "remove", remove)
    releaser = threading.Thread(target=held.release)
    releaser.start()
    assert unlinked.wait(5)
    got: list[Lease | None] = []
    acquirer = threading.Thread(target=lambda: got.append(leases.acquire("job")))
    acquirer.start()
    time.sleep(0.1)  # the acquire is now waiting for the release, or has given up
    resume.set()
    releaser.join(5)
    acquirer.join(5)
    assert got and got[0] is not None, "the acquire gave up on a name being released"
    assert got[0].holder.owns(got[0].path)
    got[0].release()


def _lost_reply(
    monkeypatch: pytest.MonkeyPatch, call: str, error: type[OSError], when: Callable[[str], bool]
) -> list[str]:
    """Make fsio.<call> do its work, then fail as a retry after a lost NFS reply
    would (link: EEXIST; rename: ENOENT), for destinations picked by *when*."""
    real = getattr(fsio, call)
    lost: list[str] = []

    def replied_lost(src: str, dst: str) -> None:
        real(src, dst)
        if when(dst) and not lost:
            lost.append(dst)
            raise error(f"[simulated] the reply to {call}({dst}) was lost")

    monkeypatch.setattr(fsio, call, replied_lost)
    return lost


@pytest.mark.parametrize(("call", "error", "name"), [
    ("link", FileExistsError, ".new-"),  # the link of our record as the temp name
    ("rename", FileNotFoundError, "job"),  # the temp name renamed over the lease
])
def test_a_take_over_whose_reply_was_lost_still_counts(
    folders: Callable[[], LeaseFolder], fake_clock: Any, monkeypatch: pytest.MonkeyPatch,
    call: str, error: type[OSError], name: str,
) -> None:
    holder, contender = folders(), folders()
    held = holder.acquire("job")
    contender.sweep()
    fake_clock.advance(L)
    assert contender.sweep() == ["job"]
    lost = _lost_reply(monkeypatch, call, error, lambda dst: name in os.path.basename(dst))
    taken = contender.take_over("job")
    assert lost, "the simulated lost reply never happened"
    assert taken is not None, "a take-over that worked on the server was given up"
    assert record(contender, "job")["token"] == taken.token
    assert sorted(os.listdir(contender.folder.path)) == ["job"]  # no .new- or .break leftover
    with pytest.raises(LeaseLost):
        held.check()
    taken.release()
    assert raw_record(contender, "job") is None


@pytest.mark.parametrize(("call", "error", "name"), [
    ("link", FileExistsError, ".new-"),
    ("rename", FileNotFoundError, "job"),
])
def test_a_change_of_length_whose_reply_was_lost_still_counts(
    folders: Callable[[], LeaseFolder], fake_clock: Any, monkeypatch: pytest.MonkeyPatch,
    call: str, error: type[OSError], name: str,
) -> None:
    leases = folders()
    held = leases.acquire("job")
    assert held is not None
    lost = _lost_reply(monkeypatch, call, error, lambda dst: name in os.path.basename(dst))
    held.set_seconds(5 * L)
    assert lost, "the simulated lost reply never happened"
    assert not held.compromised, held.loss
    assert held.seconds == 5 * L and record(leases, "job")["seconds"] == 5 * L
    assert sorted(os.listdir(leases.folder.path)) == ["job"]
    held.check()
    held.release()
    assert raw_record(leases, "job") is None


def test_a_brief_hold_is_exclusive_and_leaves_no_link(folders: Callable[[], LeaseFolder], fake_clock: Any) -> None:
    a, b = folders(), folders()
    with a.held_briefly("job") as held:
        assert held
        assert record(a, "job")["token"] == a.holders.get(L).token  # (a link to our holder's record, as any lease)
        assert b.acquire("job") is None
        assert a.acquire("job") is None  # (this process's other threads: it holds the name)
        with a.held_briefly("job") as again:
            assert not again
        with b.held_briefly("job") as other:
            assert not other
    assert raw_record(a, "job") is None
    assert not a.renewer.held  # (never renewed)
    taken = b.acquire("job")
    assert taken is not None
    taken.release()


def test_a_brief_hold_of_a_held_name_is_refused_and_leaves_the_lease(
        folders: Callable[[], LeaseFolder], fake_clock: Any) -> None:
    a, b = folders(), folders()
    for holder in (a, b):
        held = holder.acquire("job")
        assert held is not None
        with a.held_briefly("job") as taken:
            assert not taken
        assert record(a, "job")["token"] == held.token
        held.release()


def test_a_brief_hold_outlasting_its_trust_removes_only_its_own_link(
        folders: Callable[[], LeaseFolder], fake_clock: Any) -> None:
    a, b = folders(), folders()
    with a.held_briefly("job") as held:
        assert held
        b.sweep()
        fake_clock.advance(L)  # (a step that hung: nothing renews a brief hold)
        assert b.sweep() == ["job"]
        taken = b.take_over("job")
        assert taken is not None
    assert record(b, "job")["token"] == taken.token  # (the contender's, kept)
    taken.release()
    with a.held_briefly("job") as held:
        fake_clock.advance(L)
    assert raw_record(a, "job") is None  # (still ours when it ended: removed)
