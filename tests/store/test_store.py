"""JobStore: every public method and error of the core API (issue 3)."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import invariants
import pytest
from invariants import plain_repr

import fsjobstore
from fsjobstore import (
    CorruptJobFile,
    InvalidJobId,
    InvalidStore,
    Job,
    JobAlreadyResolved,
    JobBusy,
    JobNotFound,
    JobStore,
    JobStoreError,
    JobTooLarge,
    LeaseLost,
    WorkLease,
)
from fsjobstore._store import candidates as candidates_module

Snapshot = Callable[[Any], dict[str, bytes | None]]


def pending_file(store: JobStore, job_id: str) -> str:
    return invariants.pending_file(store.path, job_id)


def resolved_file(store: JobStore, job_id: str) -> str:
    return invariants.resolved_file(store.path, job_id)


def work_lease_file(store: JobStore, job_id: str) -> str:
    return os.path.join(store.path, "leases", "work", job_id)


# -- recording every path the process touches (audit hooks) ---------------------------

_FS_EVENTS = {
    "open",
    "os.listdir",
    "os.scandir",
    "os.rename",
    "os.remove",
    "os.mkdir",
    "os.rmdir",
    "os.link",
    "os.symlink",
    "os.chmod",
    "os.chown",
    "os.utime",
    "os.truncate",
}
_recording: list[list[tuple[str, str]]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _recording or event not in _FS_EVENTS:
        return
    for arg in args[:2]:
        if isinstance(arg, (str, bytes, os.PathLike)):
            path = os.fsdecode(arg)
            if path.startswith("/proc/self/fd/"):  # a listing through a folder's descriptor
                path = os.readlink(path).removesuffix(" (deleted)")
            # A relative name is one reached through a store folder's descriptor
            # (the store's own paths are absolute): inside by construction, and
            # test_security checks where such calls really reach.
            if os.path.isabs(path):
                _recording[-1].append((event, path))


sys.addaudithook(_audit)
_IGNORED = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.dirname(fsjobstore.__file__))})


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def __enter__(self) -> Recorder:
        _recording.append(self.events)
        return self

    def __exit__(self, *exc: object) -> None:
        _recording.remove(self.events)

    def paths(self) -> set[str]:
        return {path for _, path in self.events if not path.endswith((".py", ".pyc")) or not path.startswith(_IGNORED)}

    def outside(self, root: str) -> set[str]:
        return {path for path in self.paths() if path != root and not path.startswith(root + os.sep)}


# -- opening --------------------------------------------------------------------------


def test_opening_creates_the_folder_layout(tmp_path: Path) -> None:
    with JobStore(tmp_path / "new" / "store", create=True) as store:
        assert store.path == str(tmp_path / "new" / "store")
        names = set(os.listdir(store.path))
        assert {"fsjobstore.json", "tmp", "pending", "resolved", "summaries", "waiting", "due", "leases"} <= names
        assert set(os.listdir(os.path.join(store.path, "leases"))) >= {"work", "notify"}
        marker = json.loads(Path(store.path, "fsjobstore.json").read_text())
        assert marker["format"] == 3
        assert store.lease_seconds == 30.0 and store.durable is True and store.notify is None


def test_reopening_keeps_jobs(tmp_path: Path) -> None:
    with JobStore(tmp_path / "s", lease_seconds=2.0, create=True) as first:
        job = first.create({"keep": True})
        done = first.create("done")
        first.fulfill(done.id, "v")
    with JobStore(tmp_path / "s", lease_seconds=2.0, create=True) as second:
        assert second.get(job.id) == job
        assert second.get(done.id).value == b"v"


def test_a_store_path_that_is_a_file_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("not a folder")
    with pytest.raises(InvalidStore):
        JobStore(path, create=True)
    assert path.read_text() == "not a folder"


def test_a_store_of_another_format_version_is_invalid(tmp_path: Path) -> None:
    JobStore(tmp_path / "s", create=True).close()
    Path(tmp_path / "s" / "fsjobstore.json").write_text('{"format": 4}\n')
    with pytest.raises(InvalidStore, match="format"):
        JobStore(tmp_path / "s", create=True)


def test_a_store_with_a_garbled_marker_is_invalid(tmp_path: Path) -> None:
    JobStore(tmp_path / "s", create=True).close()
    Path(tmp_path / "s" / "fsjobstore.json").write_bytes(b"\x00{{")
    with pytest.raises(InvalidStore):
        JobStore(tmp_path / "s", create=True)


def test_a_store_whose_subfolder_is_a_file_is_invalid(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "pending").write_text("")
    with pytest.raises(InvalidStore):
        JobStore(tmp_path / "s", create=True)


@pytest.mark.parametrize("bad", [0, 0.0, -1, -0.5, float("nan"), True, "30", None])
def test_lease_seconds_must_be_positive(tmp_path: Path, bad: Any) -> None:
    with pytest.raises(ValueError):
        JobStore(tmp_path / "s", lease_seconds=bad, create=True)


def test_max_bytes_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        JobStore(tmp_path / "s", max_bytes=0, create=True)


def test_errors_are_exported_and_typed() -> None:
    for error in (
        JobNotFound,
        JobAlreadyResolved,
        LeaseLost,
        InvalidJobId,
        CorruptJobFile,
        InvalidStore,
        JobBusy,
        JobTooLarge,
    ):
        assert issubclass(error, JobStoreError)
        assert getattr(fsjobstore, error.__name__) is error
        assert getattr(fsjobstore.errors, error.__name__) is error
    assert issubclass(InvalidJobId, ValueError)
    assert issubclass(JobNotFound, KeyError)


# -- create / get / jobs / stats ------------------------------------------------------


@pytest.mark.parametrize(
    "request_value",
    [
        None,
        True,
        0,
        -7,
        2**60,
        1.5,
        "",
        "h\u00e9llo \u4e2d",
        [],
        {},
        [1, [2, [3]]],
        {"url": "x", "n": [1, None, {"b": False}]},
    ],
    ids=repr,
)
def test_create_then_get(store: JobStore, request_value: Any) -> None:
    job = store.create(request_value)
    assert isinstance(job, Job)
    assert job.state == "pending"
    assert job.request == request_value
    assert (job.value, job.error, job.attempts, job.waiting) == (None, None, 0, ())
    assert job.created_at == job.updated_at
    assert job.created_at.utcoffset().total_seconds() == 0
    assert len(job.id) == 26
    got = store.get(job.id)
    assert got == job
    assert os.path.exists(pending_file(store, job.id))


def test_created_ids_are_unique_and_in_creation_order(store: JobStore) -> None:
    made = [store.create(n).id for n in range(30)]
    assert len(set(made)) == 30
    assert made == sorted(made)


def test_get_unknown_job(store: JobStore) -> None:
    with pytest.raises(JobNotFound) as caught:
        store.get("0" * 26)
    assert caught.value.job_id == "0" * 26
    assert isinstance(caught.value, KeyError)
    with pytest.raises(JobNotFound):
        store.get("x" * 128)  # the longest valid id


NOT_JSON = [
    object(),
    {1, 2},
    b"bytes",
    1j,
    float("nan"),
    float("inf"),
    {"a": float("nan")},
    [1, {"x": object()}],
    {(1,): 2},
]


@pytest.mark.parametrize("bad", NOT_JSON, ids=plain_repr)
def test_create_refuses_non_json_and_writes_nothing(store: JobStore, bad: Any, snapshot: Snapshot) -> None:
    before = snapshot(store.path)
    with pytest.raises(TypeError):
        store.create(bad)
    assert snapshot(store.path) == before
    assert list(store.jobs()) == []


def test_create_refuses_a_circular_request(store: JobStore, snapshot: Snapshot) -> None:
    loop: list[Any] = []
    loop.append(loop)
    before = snapshot(store.path)
    with pytest.raises(TypeError):
        store.create(loop)
    assert snapshot(store.path) == before


def test_too_large_request_value_error_and_target(open_store: Callable[..., JobStore], snapshot: Snapshot) -> None:
    store = open_store(max_bytes=64)
    before = snapshot(store.path)
    with pytest.raises(JobTooLarge) as caught:
        store.create("x" * 100)
    assert isinstance(caught.value, ValueError)
    assert snapshot(store.path) == before
    job = store.create("small")
    before = snapshot(store.path)
    with pytest.raises(JobTooLarge):
        store.fulfill(job.id, b"v" * 65)
    with pytest.raises(JobTooLarge):
        store.fail(job.id, "e" * 65)
    with pytest.raises(JobTooLarge):
        store.queue(job.id, "t" * 100)
    assert snapshot(store.path) == before
    assert store.fulfill(job.id, b"v" * 64).value == b"v" * 64


def test_too_large_request_counts_utf8_bytes(open_store: Callable[..., JobStore], snapshot: Snapshot) -> None:
    # 40 characters of JSON, 78 bytes of UTF-8: over a 64-byte limit.
    store = open_store(max_bytes=64)
    before = snapshot(store.path)
    with pytest.raises(JobTooLarge):
        store.create("\u00e9" * 38)
    assert snapshot(store.path) == before


def test_jobs_lists_every_state_in_creation_order(store: JobStore) -> None:
    made = [store.create(n) for n in range(6)]
    store.fulfill(made[1].id, "one")
    store.fail(made[4].id, "four")
    lease = store.pull_work()
    assert lease is not None
    running = lease.id
    listed = list(store.jobs())
    pending_ids = [j.id for j in made if j.id not in (made[1].id, made[4].id)]
    assert [j.id for j in listed] == [j.id for j in made]
    states = {j.id: j.state for j in listed}
    assert states[running] == "running"
    assert states[made[1].id] == "fulfilled" and states[made[4].id] == "failed"
    assert sum(1 for s in states.values() if s == "pending") == 3
    assert [j.id for j in store.jobs("running")] == [running]
    assert [j.id for j in store.jobs("pending")] == [i for i in pending_ids if i != running]
    assert [j.id for j in store.jobs("fulfilled")] == [made[1].id]
    assert [j.id for j in store.jobs("failed")] == [made[4].id]
    assert [j.value for j in store.jobs("fulfilled")] == [b"one"]
    for job in listed:
        assert job == store.get(job.id)
    lease.release()


def test_pages_of_pending_jobs_picked_a_batch_of_names_at_a_time(store: JobStore) -> None:
    # 700 pending jobs: a listing of the 300 of one task, or after a cursor, takes
    # several batches of names (64, then 256, ...) from the folder.
    made = [job.id for job in store.create_many([{"n": n} for n in range(400)])]
    for job_id in made[::6]:
        store.fulfill(job_id, "v")
    pending = [job_id for job_id in made if job_id not in made[::6]]
    mail = [job.id for job in store.create_many([{"m": n} for n in range(300)], task="mail")]
    assert [job.id for job in store.jobs("pending", task="mail")] == mail
    assert [job.id for job in store.jobs("pending", task="mail", newest_first=True, limit=100)] == mail[::-1][:100]
    cursor = pending[150]
    assert [job.id for job in store.jobs("pending", after=cursor)] == pending[151:] + mail
    assert [job.id for job in store.jobs("pending", after=cursor, newest_first=True)] == pending[:150][::-1]


def test_jobs_on_an_empty_store(store: JobStore) -> None:
    assert list(store.jobs()) == []
    for state in ("pending", "running", "fulfilled", "failed"):
        assert list(store.jobs(state)) == []


@pytest.mark.parametrize("bad", ["done", "PENDING", "", "resolved"])
def test_jobs_refuses_an_unknown_state(store: JobStore, bad: str) -> None:
    with pytest.raises(ValueError, match="state"):
        list(store.jobs(bad))


def counts(store: JobStore) -> dict[str, int]:
    """stats() for the issue's states and "due"; any other count it keeps must be 0 here."""
    stats = store.stats()
    core = ("pending", "running", "fulfilled", "failed", "due")
    assert all(isinstance(n, int) for n in stats.values())
    assert {k: v for k, v in stats.items() if k not in core and v} == {}
    return {k: stats[k] for k in core}


def test_stats_counts_each_state(store: JobStore) -> None:
    assert counts(store) == {"pending": 0, "running": 0, "fulfilled": 0, "failed": 0, "due": 0}
    jobs = [store.create(n) for n in range(5)]
    store.fulfill(jobs[0].id, "v")
    store.fail(jobs[1].id, "e")
    store.fail(jobs[2].id, "e", retry=True)
    store.queue(jobs[0].id, "t")
    lease = store.pull_work()
    assert lease is not None
    assert counts(store) == {"pending": 2, "running": 1, "fulfilled": 1, "failed": 1, "due": 1}
    lease.release()
    assert counts(store) == {"pending": 3, "running": 0, "fulfilled": 1, "failed": 1, "due": 1}


# -- pull_work and WorkLease ------------------------------------------------------------


def test_pull_work_on_an_empty_store_is_none(store: JobStore) -> None:
    assert store.pull_work() is None
    job = store.create("x")
    store.fulfill(job.id, "v")
    assert store.pull_work() is None


def test_pull_work_leases_a_job(store: JobStore) -> None:
    job = store.create({"q": 1})
    lease = store.pull_work()
    assert isinstance(lease, WorkLease)
    assert lease.id == job.id
    assert lease.request == {"q": 1}
    assert lease.job.state == "running" and lease.job.id == job.id and lease.job.request == {"q": 1}
    assert lease.attempts == 0
    assert lease.compromised is False and lease.released is False
    assert store.get(job.id).state == "running"
    assert os.path.exists(work_lease_file(store, job.id))
    assert store.pull_work() is None
    lease.release()
    assert lease.released is True
    assert store.get(job.id).state == "pending"
    assert not os.path.exists(work_lease_file(store, job.id))


def test_pull_work_hands_out_each_job_once(store: JobStore) -> None:
    made = {store.create(n).id for n in range(40)}
    leases = []
    while (lease := store.pull_work()) is not None:
        leases.append(lease)
    assert sorted(lease.id for lease in leases) == sorted(made)
    assert store.stats()["running"] == 40
    for lease in leases:
        lease.release()
    assert store.stats()["pending"] == 40


def test_pull_work_is_exclusive_between_two_store_objects(open_store: Callable[..., JobStore]) -> None:
    first, second = open_store(), open_store()
    made = {first.create(n).id for n in range(5)}
    leases = [first.pull_work() for _ in range(5)]
    assert {lease.id for lease in leases if lease} == made
    assert second.pull_work() is None
    assert first.pull_work() is None
    leases[2].release()
    again = second.pull_work()
    assert again is not None and again.id == leases[2].id
    assert first.pull_work() is None
    assert second.get(again.id).state == "running"


def test_pull_work_sees_jobs_created_through_another_store_object(open_store: Callable[..., JobStore]) -> None:
    first, second = open_store(), open_store()
    assert first.pull_work() is None
    job = second.create("late")
    lease = first.pull_work()
    assert lease is not None and lease.id == job.id
    lease.release()


def test_work_lease_as_context_manager_releases(store: JobStore) -> None:
    job = store.create("x")
    with store.pull_work() as lease:
        assert lease.id == job.id
        assert store.get(job.id).state == "running"
    assert lease.released
    assert store.get(job.id).state == "pending"
    with pytest.raises(RuntimeError):
        with store.pull_work() as lease:
            raise RuntimeError("worker crashed")
    assert store.get(job.id).state == "pending"
    assert store.pull_work() is not None


def test_release_is_idempotent_and_safe_after_commit(store: JobStore) -> None:
    job = store.create("x")
    lease = store.pull_work()
    lease.fulfill("done")
    assert lease.released
    lease.release()
    lease.release()
    assert store.get(job.id).state == "fulfilled"
    assert os.listdir(os.path.join(store.path, "leases", "work")) == []
    other = store.create("y")
    lease2 = store.pull_work()
    lease2.release()
    lease2.release()
    assert store.get(other.id).state == "pending"


def test_release_after_commit_does_not_remove_a_new_holders_lease(store: JobStore) -> None:
    job = store.create("x")
    first = store.pull_work()
    first.fail("again", retry=True)
    second = store.pull_work()
    assert second is not None and second.id == job.id
    first.release()
    assert os.path.exists(work_lease_file(store, job.id))
    assert store.get(job.id).state == "running"
    second.release()


def test_closing_a_store_releases_its_leases(open_store: Callable[..., JobStore]) -> None:
    first, second = open_store(), open_store()
    job = first.create("x")
    lease = first.pull_work()
    assert second.pull_work() is None
    first.close()
    assert lease.released
    again = second.pull_work()
    assert again is not None and again.id == job.id
    again.release()


# -- fulfill ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, stored",
    [
        ("h\u00e9llo", "h\u00e9llo".encode()),
        (b"raw", b"raw"),
        (b"", b""),
        (b"\xff\x00\xfe", b"\xff\x00\xfe"),
        (bytearray(b"ba"), b"ba"),
    ],
    ids=repr,
)
def test_fulfill_without_a_lease(store: JobStore, value: Any, stored: bytes) -> None:
    job = store.create("x")
    done = store.fulfill(job.id, value)
    assert done.state == "fulfilled" and done.value == stored
    assert (done.error, done.attempts, done.request) == (None, 0, "x")
    got = store.get(job.id)
    assert got.state == "fulfilled" and got.value == stored and got.updated_at >= got.created_at
    assert not os.path.exists(pending_file(store, job.id))
    assert os.path.exists(resolved_file(store, job.id))
    assert store.pull_work() is None


def test_fulfill_through_a_lease(store: JobStore) -> None:
    job = store.create("x")
    lease = store.pull_work()
    done = lease.fulfill(b"\x01\x02")
    assert done.state == "fulfilled" and done.value == b"\x01\x02"
    assert lease.released
    assert store.get(job.id).value == b"\x01\x02"
    assert os.listdir(os.path.join(store.path, "leases", "work")) == []
    other = store.create("y")
    lease = store.pull_work()
    assert store.fulfill(other.id, "via store", lease=lease).value == b"via store"
    assert lease.released


@pytest.mark.parametrize("second", ["fulfill", "fail", "fail_retry"])
def test_a_job_is_resolved_at_most_once(store: JobStore, second: str, snapshot: Snapshot) -> None:
    job = store.create("x")
    store.fulfill(job.id, "first")
    before = snapshot(store.path)
    with pytest.raises(JobAlreadyResolved) as caught:
        if second == "fulfill":
            store.fulfill(job.id, "second")
        elif second == "fail":
            store.fail(job.id, "late")
        else:
            store.fail(job.id, "late", retry=True)
    assert caught.value.state == "fulfilled" and caught.value.job_id == job.id
    assert snapshot(store.path) == before
    got = store.get(job.id)
    assert (got.state, got.value, got.attempts, got.error) == ("fulfilled", b"first", 0, None)


def test_a_failed_job_cannot_be_fulfilled(store: JobStore, snapshot: Snapshot) -> None:
    job = store.create("x")
    store.fail(job.id, "boom")
    before = snapshot(store.path)
    with pytest.raises(JobAlreadyResolved) as caught:
        store.fulfill(job.id, "late")
    assert caught.value.state == "failed"
    with pytest.raises(JobAlreadyResolved):
        store.fail(job.id, "again")
    assert snapshot(store.path) == before


def test_a_second_commit_through_a_spent_lease_changes_nothing(store: JobStore, snapshot: Snapshot) -> None:
    job = store.create("x")
    lease = store.pull_work()
    lease.fulfill("first")
    before = snapshot(store.path)
    for commit in (lambda: lease.fulfill("second"), lambda: lease.fail("no"), lambda: lease.fail("no", retry=True)):
        with pytest.raises((LeaseLost, JobAlreadyResolved)):
            commit()
    assert snapshot(store.path) == before
    assert store.get(job.id).value == b"first"


def test_fulfill_without_a_lease_beats_the_holder_and_the_holder_is_refused(
    open_store: Callable[..., JobStore],
) -> None:
    store = open_store(lease_seconds=60.0)  # no renewal (which would tell the holder) during the test
    job = store.create("x")
    lease = store.pull_work()
    store.fulfill(job.id, "by someone else")
    assert store.get(job.id).state == "fulfilled"
    with pytest.raises(JobAlreadyResolved):
        lease.fulfill("by the holder")
    with pytest.raises(JobAlreadyResolved):
        lease.fail("by the holder")
    got = store.get(job.id)
    assert (got.value, got.attempts) == (b"by someone else", 0)
    lease.release()
    assert os.listdir(os.path.join(store.path, "leases", "work")) == []


def test_fulfill_refuses_a_lease_on_another_job(store: JobStore) -> None:
    one, two = store.create(1), store.create(2)
    lease = store.pull_work()
    other = two.id if lease.id == one.id else one.id
    with pytest.raises(ValueError):
        store.fulfill(other, "v", lease=lease)
    with pytest.raises(ValueError):
        store.fail(other, "e", lease=lease)
    with pytest.raises(ValueError):
        store.fail(other, "e", lease=lease, retry=True)
    assert store.get(other).state == "pending"
    assert store.get(lease.id).state == "running"
    lease.release()


@pytest.mark.parametrize("bad", [object(), {1, 2}, float("nan"), {"v": b"x"}])
def test_fulfill_refuses_a_value_that_is_not_json(store: JobStore, bad: Any, snapshot: Snapshot) -> None:
    job = store.create("x")
    before = snapshot(store.path)
    with pytest.raises(TypeError):
        store.fulfill(job.id, bad)
    assert snapshot(store.path) == before


def test_fulfill_unknown_job(store: JobStore, snapshot: Snapshot) -> None:
    before = snapshot(store.path)
    with pytest.raises(JobNotFound):
        store.fulfill("0" * 26, "v")
    with pytest.raises(JobNotFound):
        store.fail("0" * 26, "e")
    with pytest.raises(JobNotFound):
        store.fail("0" * 26, "e", retry=True)
    assert snapshot(store.path) == before


# -- fail --------------------------------------------------------------------------------


def test_fail_is_terminal_and_counts_an_attempt(store: JobStore) -> None:
    job = store.create("x")
    failed = store.fail(job.id, "it broke")
    assert (failed.state, failed.error, failed.value, failed.attempts) == ("failed", "it broke", None, 1)
    got = store.get(job.id)
    assert (got.state, got.error, got.value, got.attempts) == ("failed", "it broke", None, 1)
    assert store.pull_work() is None


def test_fail_with_an_exception_records_its_type_and_message(store: JobStore) -> None:
    job = store.create("x")
    lease = store.pull_work()
    failed = lease.fail(ValueError("bad input"))
    assert failed.state == "failed" and failed.error == "ValueError: bad input"
    assert lease.released
    assert store.get(job.id).error == "ValueError: bad input"


def test_fail_refuses_an_error_that_is_not_str_or_exception(store: JobStore) -> None:
    job = store.create("x")
    with pytest.raises(TypeError):
        store.fail(job.id, 42)  # type: ignore[arg-type]
    assert store.get(job.id).state == "pending"


def test_fail_retry_returns_the_job_to_pending(store: JobStore) -> None:
    job = store.create("x")
    retried = store.fail(job.id, "try again", retry=True)
    assert (retried.state, retried.error, retried.attempts) == ("pending", "try again", 1)
    lease = store.pull_work()
    assert lease is not None and lease.id == job.id and lease.attempts == 1
    again = lease.fail("once more", retry=True)
    assert (again.state, again.attempts) == ("pending", 2)
    assert lease.released
    got = store.get(job.id)
    assert (got.state, got.error, got.attempts) == ("pending", "once more", 2)
    lease = store.pull_work()
    done = lease.fulfill("finally")
    assert (done.state, done.attempts, done.value) == ("fulfilled", 2, b"finally")
    assert store.get(job.id).attempts == 2


def test_fail_retry_without_a_lease_while_another_holds_it_is_busy(store: JobStore, snapshot: Snapshot) -> None:
    job = store.create("x")
    lease = store.pull_work()
    before = snapshot(store.path)
    with pytest.raises(JobBusy) as caught:
        store.fail(job.id, "no", retry=True)
    assert caught.value.job_id == job.id
    assert snapshot(store.path) == before
    got = store.get(job.id)
    assert (got.state, got.attempts) == ("running", 0)
    assert lease.fulfill("mine").value == b"mine"


def test_fail_retry_without_a_lease_leaves_no_lease_behind(store: JobStore) -> None:
    job = store.create("x")
    store.fail(job.id, "e", retry=True)
    assert os.listdir(os.path.join(store.path, "leases", "work")) == []
    assert store.get(job.id).state == "pending"


def test_fail_retry_on_a_resolved_job_whose_lease_is_still_held_is_already_resolved(store: JobStore) -> None:
    # Resolution is final, so it outranks a lease somebody still holds (as JobNotFound does).
    job = store.create("x")
    lease = store.pull_work()
    store.fulfill(job.id, "done")
    with pytest.raises(JobAlreadyResolved):
        store.fail(job.id, "late", retry=True)
    assert store.get(job.id).value == b"done"
    lease.release()


def test_fail_retry_without_a_lease_on_a_job_waiting_out_a_retry_delay(store: JobStore) -> None:
    # A pending job that nobody holds is retried (attempt counted), even while its
    # earlier retry delay runs: it is not "already resolved".
    job = store.create("x")
    store.fail(job.id, "first", retry=True, delay=60)
    assert store.pull_work() is None  # not before its delay
    retried = store.fail(job.id, "second", retry=True)
    assert (retried.state, retried.attempts, retried.error) == ("pending", 2, "second")
    got = store.get(job.id)
    assert (got.state, got.attempts, got.error) == ("pending", 2, "second")


def test_a_puller_that_passed_over_a_delayed_job_takes_it_once_the_delay_is_gone(
    open_store: Callable[..., JobStore],
) -> None:
    # pull_work returns None only when no job is available: a store object must not
    # keep skipping a job because of a not_before it saw earlier and that is gone now.
    puller, other = open_store(), open_store()
    job = puller.create("x", not_before=60)
    assert puller.pull_work() is None  # not before its time
    other.cancel(job.id)
    assert other.retry(job.id).not_before is None  # pending again, workable at once
    lease = puller.pull_work()
    assert lease is not None and lease.id == job.id
    lease.release()


def test_terminal_fail_through_a_lease_after_a_retry(store: JobStore) -> None:
    job = store.create("x")
    store.fail(job.id, "first", retry=True)
    lease = store.pull_work()
    failed = store.fail(job.id, "second", lease=lease)
    assert (failed.state, failed.attempts, failed.error) == ("failed", 2, "second")
    assert lease.released


# -- ids: validation and confinement --------------------------------------------------------

BAD_IDS = [
    "",
    "..",
    ".",
    "../x",
    "../../etc/passwd",
    "a/b",
    "/tmp",
    "a\\b",
    "a\x00",
    "a\n",
    "\u0430",
    "a\uff0fb",
    "x" * 129,
]

CALLS: dict[str, Callable[[JobStore, str], Any]] = {
    "get": lambda s, i: s.get(i),
    "fulfill": lambda s, i: s.fulfill(i, "v"),
    "fail": lambda s, i: s.fail(i, "e"),
    "fail_retry": lambda s, i: s.fail(i, "e", retry=True),
    "queue": lambda s, i: s.queue(i, "t"),
    "unqueue": lambda s, i: s.unqueue(i, "t"),
    "unqueue_all": lambda s, i: s.unqueue_all(i, ["t", "u"]),
}


@pytest.mark.parametrize("call", list(CALLS))
def test_invalid_ids_are_refused_touching_nothing_outside_the_store(
    open_store: Callable[..., JobStore], tmp_path: Path, call: str, snapshot: Snapshot
) -> None:
    store = open_store(tmp_path / "root" / "store")
    store.create("x")
    (tmp_path / "root" / "x").write_text("outside")
    (tmp_path / "root" / "x.json").write_text("outside")
    before = snapshot(tmp_path / "root")
    for bad in BAD_IDS:
        with Recorder() as recorder:
            with pytest.raises(InvalidJobId) as caught:
                CALLS[call](store, bad)
        assert isinstance(caught.value, ValueError), bad
        assert recorder.outside(store.path) == set(), bad
    assert snapshot(tmp_path / "root") == before


@pytest.mark.parametrize("call", list(CALLS))
def test_a_valid_but_unknown_id_is_not_found(
    open_store: Callable[..., JobStore], call: str, snapshot: Snapshot
) -> None:
    store = open_store()
    before = snapshot(store.path)
    with pytest.raises(JobNotFound):
        CALLS[call](store, "x" * 128)
    assert snapshot(store.path) == before


def test_a_whole_job_life_touches_nothing_outside_the_store(
    open_store: Callable[..., JobStore], tmp_path: Path
) -> None:
    delivered = []
    with Recorder() as recorder:
        store = open_store(tmp_path / "store", durable=True, notify=lambda t, j: delivered.append(t))
        job = store.create({"a": 1})
        store.queue(job.id, "early")
        lease = store.pull_work()
        lease.fail("x", retry=True)
        lease = store.pull_work()
        lease.fulfill("v")
        store.queue(job.id, "late")
        other = store.create(2)
        store.queue(other.id, {"t": 1})
        store.fail(other.id, "no")
        list(store.jobs())
        store.stats()
        store.unqueue(job.id, "nobody")
        store.close()
    assert sorted(map(str, delivered)) == sorted(["early", "late", "{'t': 1}"])
    assert recorder.events, "the audit hook saw nothing"
    assert recorder.outside(os.path.join(str(tmp_path), "store")) == set()


def test_pulls_never_list_resolved_jobs(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    for n in range(20):
        job = store.create(n)
        store.fulfill(job.id, "v")
        store.queue(job.id, "t")
    live = store.create("live")
    for _ in range(3):
        store.pull_notification().done(["t"])
    with Recorder() as recorder:
        lease = store.pull_work()
        note = store.pull_notification()
    assert lease is not None and lease.id == live.id
    assert note is not None
    listed = {path for event, path in recorder.events if event in ("os.listdir", "os.scandir")}
    assert os.path.join(store.path, "resolved") not in listed
    assert os.path.join(store.path, "waiting") not in listed
    lease.release()
    note.release()


# -- corrupt files -------------------------------------------------------------------------


def _garble(path: str, how: str) -> None:
    data = Path(path).read_bytes()
    if how == "garbage":
        Path(path).write_bytes(b"\x00\xffnot json at all")
    elif how == "truncated":
        Path(path).write_bytes(data[: len(data) // 2])
    elif how == "empty":
        Path(path).write_bytes(b"")
    elif how == "version":
        fields = json.loads(data)
        fields["format"] = 99
        Path(path).write_text(json.dumps(fields))
    elif how == "wrong-id":
        fields = json.loads(data)
        fields["id"] = "SOMEONE_ELSE"
        Path(path).write_text(json.dumps(fields))
    else:
        raise AssertionError(how)


CORRUPTIONS = ["garbage", "truncated", "empty", "version", "wrong-id"]


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_a_corrupt_pending_file(store: JobStore, how: str, caplog: pytest.LogCaptureFixture) -> None:
    bad = store.create("bad")
    good = store.create("good")
    path = pending_file(store, bad.id)
    _garble(path, how)
    with pytest.raises(CorruptJobFile) as caught:
        store.get(bad.id)
    assert caught.value.path == path and path in str(caught.value)
    assert store.get(good.id).request == "good"
    with caplog.at_level(logging.ERROR, logger="fsjobstore"):
        assert [j.id for j in store.jobs()] == [good.id]
        assert [j.id for j in store.jobs("pending")] == [good.id]
        pulled = [store.pull_work() for _ in range(3)]
    assert [lease.id for lease in pulled if lease is not None] == [good.id]
    assert pulled[1:] == [None, None]
    assert path in caplog.text
    assert store.get(good.id).state == "running"
    pulled[0].fulfill("fine")
    assert store.pull_work() is None
    assert [j.id for j in store.jobs("fulfilled")] == [good.id]
    with pytest.raises(CorruptJobFile):
        store.fulfill(bad.id, "v")


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_a_corrupt_resolved_file(store: JobStore, how: str) -> None:
    bad = store.create("bad")
    good = store.create("good")
    store.fulfill(bad.id, "v")
    store.queue(bad.id, "target")
    store.fulfill(good.id, "w")
    store.queue(good.id, "target")
    path = resolved_file(store, bad.id)
    _garble(path, how)
    with pytest.raises(CorruptJobFile) as caught:
        store.get(bad.id)
    assert caught.value.path == path
    assert [j.id for j in store.jobs()] == [good.id]
    assert [j.id for j in store.jobs("fulfilled")] == [good.id]
    assert store.stats()["fulfilled"] == 1
    notes = [store.pull_notification() for _ in range(3)]
    assert [note.id for note in notes if note is not None] == [good.id]
    notes[0].release()


@pytest.mark.parametrize("missing", ["request", "value", "error"])
def test_a_job_file_missing_a_field_is_corrupt(store: JobStore, missing: str) -> None:
    bad = store.create("bad")
    good = store.create("good")
    path = pending_file(store, bad.id)
    fields = json.loads(Path(path).read_text())
    del fields[missing]
    Path(path).write_text(json.dumps(fields))
    with pytest.raises(CorruptJobFile) as caught:
        store.get(bad.id)
    assert caught.value.path == path
    assert [j.id for j in store.jobs()] == [good.id]
    leases = [store.pull_work() for _ in range(3)]
    assert [lease.id for lease in leases if lease is not None] == [good.id]
    leases[0].release()


def test_a_stray_file_named_only_by_the_suffix_never_crashes_a_pull(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Candidates shuffle names in blocks; keep them sorted so the stray name is tried first.
    monkeypatch.setattr(candidates_module.random, "shuffle", lambda block: None)
    Path(store.path, "pending", ".json").write_text("stray")
    job = store.create("real")
    assert list(store.jobs()) == [store.get(job.id)]
    lease = store.pull_work()
    assert lease is not None and lease.id == job.id
    assert store.pull_work() is None
    lease.release()


def test_stray_files_in_the_pending_folder_are_skipped(store: JobStore) -> None:
    job = store.create("real")
    Path(store.path, "pending", "notes.txt").write_text("hello")
    Path(store.path, "pending", "x.json.tmp").write_text("hello")
    assert [j.id for j in store.jobs()] == [job.id]
    lease = store.pull_work()
    assert lease is not None and lease.id == job.id
    assert store.pull_work() is None
    lease.release()


def test_leftover_pending_record_after_a_crashed_resolver_is_finished_by_a_pull(store: JobStore) -> None:
    # A resolver that published the result and died before removing the pending record.
    job = store.create("x")
    pending = Path(pending_file(store, job.id)).read_bytes()
    store.fulfill(job.id, "v")
    Path(pending_file(store, job.id)).write_bytes(pending)
    assert store.get(job.id).state == "fulfilled"
    assert [j.state for j in store.jobs()] == ["fulfilled"]
    assert store.pull_work() is None
    assert not os.path.exists(pending_file(store, job.id))
    assert store.stats()["fulfilled"] == 1 and store.stats()["pending"] == 0


def test_only_create_true_makes_a_store_and_a_folder_that_is_not_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidStore, match=str(tmp_path / "typo")):
        JobStore(tmp_path / "typo")
    assert not (tmp_path / "typo").exists()
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(InvalidStore, match="photos"):
        JobStore(tmp_path / "photos")
    assert sorted(os.listdir(tmp_path / "photos")) == ["cat.jpg"]  # nothing scattered into it
    JobStore(tmp_path / "jobs", create=True).close()
    with JobStore(tmp_path / "jobs") as store:  # an existing store opens without create
        assert store.create("x").state == "pending"


def test_a_store_path_that_is_a_symlink_is_resolved_once_and_works(tmp_path: Path) -> None:
    JobStore(tmp_path / "real", create=True).close()
    os.symlink(tmp_path / "real", tmp_path / "data")
    with JobStore(tmp_path / "data") as store:
        assert store.path == str(tmp_path / "real")
        job = store.create("x")
        lease = store.pull_work()
        assert lease is not None and lease.id == job.id
        lease.fulfill("ok")
    assert Path(invariants.resolved_file(tmp_path / "real", job.id)).exists()
