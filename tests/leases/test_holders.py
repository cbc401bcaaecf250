"""Holders: every lease of a holder is a hard link to its one record file."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from invariants import in_child
from leasing import lease_folder
from test_lease import L, ManualRenewer, raw_record, record, until

from fsjobstore import JobStore, WorkLease
from fsjobstore._files import fsio
from fsjobstore._files.folders import Folder
from fsjobstore._leases import Lease, LeaseFolder, Renewer
from fsjobstore.errors import Loss, LossReason

# -- fixtures (the same shape as test_lease's, on folders of their own) -----------------


@pytest.fixture
def lease_dir(tmp_path: Path) -> Folder:
    (tmp_path / "leases").mkdir()
    return Folder(str(tmp_path / "leases"))


@pytest.fixture
def holders_dir(tmp_path: Path) -> Path:
    """Where a LeaseFolder on lease_dir keeps its holders by default."""
    return tmp_path / "holders"


@pytest.fixture
def folders(lease_dir: Folder) -> Iterator[Callable[[], LeaseFolder]]:
    """LeaseFolder objects on one folder, each as a separate process would see it."""
    renewers: list[ManualRenewer] = []

    def make() -> LeaseFolder:
        renewers.append(ManualRenewer())
        return lease_folder(lease_dir, L, renewers[-1])

    yield make
    for each in renewers:
        each.release_all()


def beat_of(raw: bytes | None) -> int:
    assert raw is not None
    return int(json.loads(raw)["beat"])


def holder_files(path: str | os.PathLike[str]) -> list[str]:
    return sorted(os.listdir(path))


def work_lease_path(store: JobStore, job_id: str) -> str:
    return os.path.join(store.path, "leases", "work", job_id)


def store_holders(store: JobStore) -> str:
    return os.path.join(store.path, "leases", "holders")


# -- one holder, many leases ---------------------------------------------------------------


def test_leases_of_one_folder_are_links_to_one_holder_file(
    folders: Callable[[], LeaseFolder], holders_dir: Path, fake_clock: Any
) -> None:
    a = folders()
    first, second = a.acquire("one"), a.acquire("two")
    assert first is not None and second is not None
    assert first.holder is second.holder and first.token == second.token
    holder_path = first.holder.path
    assert holder_files(holders_dir) == [first.token]
    info = os.stat(holder_path)
    for name in ("one", "two"):
        assert os.stat(a.folder.join(name)).st_ino == info.st_ino
    assert info.st_nlink == 3  # the holder's own name and the two leases

    before = raw_record(a, "one")
    assert raw_record(a, "two") == before
    assert first.holder.beat() is None  # one write...
    after = raw_record(a, "one")
    assert after != before and raw_record(a, "two") == after  # ...seen at both names
    assert beat_of(after) == beat_of(before) + 1
    assert len(after) == len(before)  # rewritten in place at a fixed width

    # The renewal thread's round: both leases due at `since`, one write for both.
    fake_clock.advance(L / 3)
    since = fake_clock.now
    first.renew(since=since)
    renewed = raw_record(a, "one")
    assert beat_of(renewed) == beat_of(after) + 1
    second.renew(since=since)
    assert raw_record(a, "two") == renewed, "the holder already beat since `since`: no second write"
    assert beat_of(raw_record(a, "two")) == beat_of(after) + 1
    assert not first.compromised and not second.compromised
    second.renew()  # without since it does beat
    assert beat_of(raw_record(a, "one")) == beat_of(after) + 2
    first.release()
    assert os.stat(holder_path).st_nlink == 2
    assert record(a, "two")["token"] == second.token
    second.release()
    assert os.stat(holder_path).st_nlink == 1
    assert os.listdir(a.folder.path) == []


def test_an_idle_holder_beats_before_it_links_a_new_name(folders: Callable[[], LeaseFolder], fake_clock: Any) -> None:
    holder, contender = folders(), folders()
    held = holder.acquire("job")
    assert held is not None
    assert contender.sweep() == []  # the contender starts counting on this record
    seen = raw_record(contender, "job")
    held.release()
    fake_clock.advance(L * 0.75)  # idle for more than a third of its lease
    again = holder.acquire("job")
    assert again is not None and again.token == held.token  # the same holder...
    fresh = raw_record(contender, "job")
    assert fresh != seen  # ...with a fresh beat written before the link
    assert beat_of(fresh) == beat_of(seen) + 1
    assert again.renewed_at == fake_clock.now
    # Had the old record been linked, the contender (which saw it L*0.75 ago)
    # would find it expired a quarter lease from now.
    assert contender.sweep() == []
    fake_clock.advance(L * 0.5)
    assert contender.sweep() == []
    fake_clock.advance(L * 0.25)
    assert contender.sweep() == [], "a new lease looked expired after L*0.75 of its life"
    fake_clock.advance(L * 0.25)
    assert contender.sweep() == ["job"]  # it does expire, a whole L after the fresh beat
    again.release()


def test_a_recent_holder_links_without_writing(folders: Callable[[], LeaseFolder], fake_clock: Any) -> None:
    a = folders()
    held = a.acquire("one")
    assert held is not None
    before = raw_record(a, "one")
    fake_clock.advance(L / 4)  # less than a third: not stale
    other = a.acquire("two")
    assert other is not None
    assert raw_record(a, "two") == before


@pytest.mark.parametrize("idle", [0.0, 0.5], ids=["recent", "stale"])
def test_a_purged_holder_file_is_replaced_by_a_new_holder(
    folders: Callable[[], LeaseFolder], holders_dir: Path, fake_clock: Any, idle: float
) -> None:
    a = folders()
    held = a.acquire("job")
    assert held is not None
    old = held.holder
    held.release()
    os.unlink(old.path)  # what purge does to an idle holder's file
    fake_clock.advance(idle * L)
    again = a.acquire("other")
    assert again is not None
    assert again.token != old.token
    assert not os.path.exists(old.path)
    assert holder_files(holders_dir) == [again.token]
    assert record(a, "other")["token"] == again.token
    assert os.stat(again.holder.path).st_ino == os.stat(a.folder.join("other")).st_ino
    again.check()
    again.renew()
    assert not again.compromised
    again.check()
    later = a.acquire("third")  # the replacement is the holder from now on
    assert later is not None and later.holder is again.holder
    later.release()
    again.release()
    assert os.listdir(a.folder.path) == []
    assert holder_files(holders_dir) == [again.token]


def test_eexist_on_our_own_record_counts_as_acquired(
    folders: Callable[[], LeaseFolder], fake_clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = folders(), folders()
    real_link = os.link
    calls: list[str] = []

    def link_whose_reply_was_lost(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        real_link(src, dst, *args, **kwargs)  # the server made the link...
        calls.append(str(dst))
        if len(calls) == 1:
            raise FileExistsError(17, "File exists", str(dst))  # ...the retry says EEXIST

    monkeypatch.setattr(os, "link", link_whose_reply_was_lost)
    held = a.acquire("job")
    monkeypatch.setattr(os, "link", real_link)
    assert calls == [a.folder.join("job")]
    assert isinstance(held, Lease)
    assert record(a, "job")["token"] == held.token
    held.check()
    assert not held.compromised
    assert a.acquire("job") is None  # and it counts as held by us
    assert b.acquire("job") is None
    held.release()
    assert raw_record(a, "job") is None


def test_eexist_on_another_holders_record_is_not_acquired(
    folders: Callable[[], LeaseFolder], fake_clock: Any
) -> None:
    a, b = folders(), folders()
    theirs = b.acquire("job")
    assert theirs is not None
    before = raw_record(a, "job")
    assert a.acquire("job") is None
    assert raw_record(a, "job") == before
    assert "job" not in a.held
    theirs.check()
    theirs.release()
    mine = a.acquire("job")  # nothing of the refusal was remembered
    assert mine is not None and record(a, "job")["token"] == mine.token
    mine.release()


def test_one_process_never_holds_a_name_twice(folders: Callable[[], LeaseFolder], fake_clock: Any) -> None:
    a = folders()
    first = a.acquire("job")
    assert first is not None
    assert a.acquire("job") is None  # same holder, same token: the fence could not tell them apart
    os.unlink(a.folder.join("job"))
    first.renew()
    assert first.compromised
    second = a.acquire("job")  # a compromised lease can be taken again
    assert second is not None and second is not first
    assert second.token == first.token  # (one holder: the same record)
    first.release()  # the old handle must not remove the new link
    assert raw_record(a, "job") is not None
    assert record(a, "job")["token"] == second.token
    assert a.acquire("job") is None  # the new lease is still known as held
    second.check()
    assert not second.compromised
    second.release()
    assert raw_record(a, "job") is None
    third = a.acquire("job")
    assert third is not None
    third.release()


def test_a_lease_no_longer_wanted_is_removed_on_release(folders: Callable[[], LeaseFolder], fake_clock: Any) -> None:
    a, b = folders(), folders()
    held = a.acquire("job")
    assert held is not None
    keep = a.acquire("other")  # keeps the holder's record alive whatever happens to "job"
    assert keep is not None
    held.still_wanted = lambda: Loss(LossReason.RESOLVED_ELSEWHERE)
    held.renew()
    assert held.compromised and held.loss == Loss(LossReason.RESOLVED_ELSEWHERE)
    assert record(a, "job")["token"] == held.token  # still our link on disk...
    held.release()
    assert raw_record(a, "job") is None  # ...until released
    taken = b.acquire("job")
    assert taken is not None
    taken.release()
    keep.release()


def test_set_seconds_relinks_the_name_to_the_holder_of_that_length(
    folders: Callable[[], LeaseFolder], holders_dir: Path, fake_clock: Any
) -> None:
    a, contender = folders(), folders()
    held = a.acquire("job")
    assert held is not None
    short = held.holder
    held.set_seconds(5 * L)
    assert held.seconds == 5 * L and held.holder is not short
    assert record(a, "job")["seconds"] == 5 * L
    assert record(a, "job")["token"] == held.token != short.token
    assert os.stat(a.folder.join("job")).st_ino == os.stat(held.holder.path).st_ino
    assert os.stat(short.path).st_nlink == 1
    assert os.listdir(a.folder.path) == ["job"]  # no .new- leftover
    assert holder_files(holders_dir) == sorted([short.token, held.token])
    held.check()
    contender.sweep()
    fake_clock.advance(4 * L)
    assert contender.sweep() == []  # judged by the record's 5 L, not the contender's L
    fake_clock.advance(L)
    assert contender.sweep() == ["job"]
    held.release()
    assert raw_record(a, "job") is None


# -- through the store ----------------------------------------------------------------


def test_store_a_cancelled_jobs_lease_is_removed_on_release_and_the_job_retried_at_once(
    open_store: Callable[..., JobStore],
) -> None:
    store, other = open_store(lease_seconds=0.3), open_store(lease_seconds=0.3)
    job = store.create("x")
    told: list[WorkLease] = []
    lease = store.pull_work(on_compromised=told.append)
    assert lease is not None and lease.id == job.id
    path = work_lease_path(store, job.id)
    store.cancel(job.id)
    assert until(lambda: bool(told), 5.0), "the renewal thread never noticed the cancellation"
    assert told == [lease] and lease.compromised
    assert lease.loss == Loss(LossReason.RESOLVED_ELSEWHERE)
    assert json.loads(fsio.read(path))["token"] == lease.name_lease.token  # still our link
    lease.release()
    assert not os.path.exists(path)
    assert store.retry(job.id).state == "pending"
    started = time.monotonic()
    again = other.pull_work()
    assert again is not None and again.id == job.id, "the retried job should be pullable at once"
    assert time.monotonic() - started < 0.3
    assert again.attempts == 0
    assert again.fulfill("v").value == b"v"


def test_store_per_job_lease_seconds_links_to_a_holder_of_that_length(
    open_store: Callable[..., JobStore], fake_clock: Any
) -> None:
    store = open_store()
    long = store.create("long", lease_seconds=5)
    short = store.create("short")
    leases = {lease.id: lease for lease in (store.pull_work(), store.pull_work()) if lease is not None}
    assert sorted(leases) == sorted([long.id, short.id])
    long_path, short_path = work_lease_path(store, long.id), work_lease_path(store, short.id)
    long_record, short_record = json.loads(fsio.read(long_path)), json.loads(fsio.read(short_path))
    assert long_record["seconds"] == 5.0
    assert short_record["seconds"] == store.lease_seconds
    assert long_record["token"] != short_record["token"]
    holders = store_holders(store)
    by_inode = {os.stat(os.path.join(holders, name)).st_ino: name for name in os.listdir(holders)}
    assert len(by_inode) == 2
    assert by_inode[os.stat(long_path).st_ino] == long_record["token"]
    assert by_inode[os.stat(short_path).st_ino] == short_record["token"]
    assert os.stat(long_path).st_nlink == 2 and os.stat(short_path).st_nlink == 2
    assert sorted(os.listdir(os.path.dirname(long_path))) == sorted([long.id, short.id])  # no .new- leftover
    assert leases[long.id].fulfill("a").state == "fulfilled"
    assert leases[short.id].fulfill("b").state == "fulfilled"


def test_store_purge_removes_idle_holder_files_only(open_store: Callable[..., JobStore], fake_clock: Any) -> None:
    # The fake clock keeps the renewal threads from rewriting (and so re-dating) records.
    store, other, third = open_store(), open_store(), open_store()
    held_job = store.create("held")
    lease = store.pull_work()
    assert lease is not None and lease.id == held_job.id
    busy_holder = os.path.join(store_holders(store), lease.name_lease.token)
    idle_tokens = []
    for each in (other, third):
        job = each.create("done")
        done = each.pull_work()
        assert done is not None and done.id == job.id
        idle_tokens.append(done.name_lease.token)
        done.fulfill("v")
    idle_old, idle_young = (os.path.join(store_holders(store), token) for token in idle_tokens)
    assert os.stat(idle_old).st_nlink == 1 and os.stat(idle_young).st_nlink == 1
    assert os.stat(busy_holder).st_nlink == 2
    two_hours_ago = time.time() - 7200
    for path in (idle_old, busy_holder):
        os.utime(path, (two_hours_ago, two_hours_ago))

    store.purge()
    assert not os.path.exists(idle_old)  # idle for an hour: gone
    assert os.path.exists(idle_young)  # idle, but not for long
    assert os.path.exists(busy_holder)  # old, but a lease is linked to it
    assert os.path.exists(work_lease_path(store, held_job.id))

    job = other.create("after purge")  # the store whose idle holder was purged
    fresh = other.pull_work()
    assert fresh is not None and fresh.id == job.id
    assert fresh.name_lease.token != idle_tokens[0]
    assert json.loads(fsio.read(work_lease_path(other, job.id)))["token"] == fresh.name_lease.token
    assert fresh.fulfill("ok").value == b"ok"
    assert lease.fulfill("still mine").value == b"still mine"


def test_store_close_removes_its_holder_files(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "store", lease_seconds=2.0, durable=False, create=True)
    try:
        store.create("a")
        store.create("b", lease_seconds=5)
        first, second = store.pull_work(), store.pull_work()
        assert first is not None and second is not None
        assert len(os.listdir(store_holders(store))) == 2
        store.create("c")
        done = store.pull_work()
        assert done is not None
        done.fulfill("v")
    finally:
        store.close()
    assert os.listdir(store_holders(store)) == []
    assert os.listdir(os.path.join(store.path, "leases", "work")) == []


# -- fork -------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork() in a process with threads (3.12+)
def test_a_forked_child_forgets_the_parents_holders_and_leases(lease_dir: Folder, holders_dir: Path) -> None:
    renewer = Renewer()
    folder = lease_folder(lease_dir, 0.3, renewer)
    try:
        parent = folder.acquire("parent")
        assert parent is not None
        renewer.stop()  # from now on nothing in the parent renews its lease
        before = raw_record(folder, "parent")

        def child_work() -> str:
            child = folder.acquire("child")
            assert child is not None, "the child could not acquire a fresh name"
            assert folder.acquire("parent") is None, "the child took the parent's lease as its own"
            first = raw_record(folder, "child")
            assert until(lambda: raw_record(folder, "child") != first, 5.0), \
                "the child's renewer never renewed the child's lease"
            assert raw_record(folder, "parent") == before, "the child renewed the parent's lease"
            renewer.release_all()  # what the child's store.close() does
            renewer.stop()
            folder.holders.close()
            return child.token

        child_token = in_child(child_work)
        assert child_token != parent.token
        assert raw_record(folder, "parent") == before  # never renewed by the child
        assert raw_record(folder, "child") is None  # the child released its own
        assert holder_files(holders_dir) == [parent.token]  # and removed only its holder
        parent.check()
        assert not parent.compromised
        parent.release()
        assert raw_record(folder, "parent") is None
    finally:
        renewer.release_all()
        renewer.stop()
        folder.holders.close()
