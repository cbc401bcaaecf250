"""Security of a shared folder.

* Nothing outside the store folder is read or written, whatever the input: every
  path fsio and lease hand to the kernel is recorded (with the folders above its
  last component resolved, as the kernel resolves them) and must lie inside the
  store, and a sentinel folder beside the store must be untouched.
* Symlinks planted inside the store (a record, a target file, a lease, a marker, a
  job's waiting folder, one of the store's own folders) are never followed, never
  crash a listing or a pull, and are reported (and removed) by ``check``.
* Files and folders are created with the process umask.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from invariants import FsSpy, key_of, pending_file, resolved_file, tree

from fsjobstore import (
    CorruptJobFile,
    InvalidJobId,
    InvalidStore,
    JobAlreadyResolved,
    JobNotFound,
    JobStore,
    JobStoreError,
)
from fsjobstore._files.ids import is_valid_id

LEASE = 2.0
RECORD = json.dumps({
    "format": 1, "id": "X", "state": "fulfilled", "task": None, "resource": None, "request": "planted",
    "value": "secret from outside", "value_encoding": "utf-8", "error": None, "attempts": 0,
    "not_before": None, "lease_seconds": None, "expires_in": None,
    "created_at": "2026-01-01T00:00:00.000000Z", "updated_at": "2026-01-01T00:00:00.000000Z",
})


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[Path]:
    """A folder beside the store, full of tempting files; it must never change."""
    folder = tmp_path / "sentinel"
    (folder / "sub").mkdir(parents=True)
    (folder / "keep.txt").write_text("precious")
    (folder / "record.json").write_text(RECORD)
    (folder / "sub" / "deep.json").write_text('{"target": "outside", "queued_at": "2026-01-01T00:00:00.000000Z"}')
    before = tree(folder)
    stats = {p: (os.lstat(folder / p).st_mtime_ns, os.lstat(folder / p).st_mode) for p in before}
    yield folder
    assert tree(folder) == before, "the sentinel folder beside the store changed"
    assert {p: (os.lstat(folder / p).st_mtime_ns, os.lstat(folder / p).st_mode) for p in before} == stats


@pytest.fixture
def store(tmp_path: Path, sentinel: Path) -> Iterator[JobStore]:
    opened = JobStore(tmp_path / "store", lease_seconds=LEASE, watch=False, create=True)
    yield opened
    opened.close()


def _inside(root: str, path: str) -> bool:
    root = os.path.realpath(root)
    return path == root or path.startswith(root + os.sep)


def assert_stays_inside(store: JobStore, spy: FsSpy) -> None:
    outside = [(name, path) for name, path in spy.paths if not _inside(store.path, path)]
    assert not outside, f"calls reached outside the store: {outside[:10]}"


HOSTILE_IDS = ["../sentinel/keep", "..", "/tmp", "sentinel", "a/../../sentinel", "..\\sentinel", "\x00",
               "keep.txt", "pending/../../sentinel/record"]
HOSTILE_VALUES: list[Any] = ["../sentinel/keep.txt", "/etc/passwd", {"path": "../../sentinel"}, ["..", "/", "\\"],
                             "\u202e", "\x00", "a" * 500]


def test_nothing_outside_the_store_is_touched_whatever_the_input(store: JobStore, sentinel: Path) -> None:
    spy = FsSpy(record_paths=True)
    with spy.installed():
        ids = []
        for value in HOSTILE_VALUES:
            job = store.create(value, task="../sentinel", resource="../../sentinel/keep.txt")
            ids.append(job.id)
            store.queue(job.id, value)
            store.queue(job.id, {"target": value})
        for bad in HOSTILE_IDS:
            # Ids that could name a path are refused; a harmless one is merely unknown.
            expected = JobNotFound if is_valid_id(bad) else InvalidJobId
            for name, args in (("get", ()), ("fulfill", ("v",)), ("queue", ("t",)), ("unqueue", ("t",)),
                               ("cancel", ()), ("retry", ()), ("fail", ("e", True))):
                with pytest.raises(expected):
                    if name == "fail":
                        store.fail(bad, "e", retry=True)
                    else:
                        getattr(store, name)(bad, *args)
        done = 0
        while (lease := store.pull_work(tasks=["../sentinel"])) is not None:
            with lease:
                lease.fulfill("../sentinel/keep.txt")
            done += 1
        assert done == len(ids)
        while (note := store.pull_notification()) is not None:
            note.done(note.waiting)
        list(store.jobs())
        store.stats()
        store.check(repair=True)
        store.purge(older_than=0)
    assert spy.paths, "no paths were recorded"
    assert_stays_inside(store, spy)


# -- planted symlinks ---------------------------------------------------------------------------

def _plant(link: Path, target: Path) -> None:
    if link.exists() or link.is_symlink():
        if link.is_dir() and not link.is_symlink():
            shutil.rmtree(link)
        else:
            link.unlink()
    link.symlink_to(target)


def _symlinks_reported(store: JobStore, *links: Path) -> None:
    report = store.check()
    found = {p.path for p in report.problems if p.kind == "symlink"}
    missing = {str(link) for link in links} - found
    assert not missing, f"check did not report the planted symlinks {missing} (found {report.problems})"
    assert not report.clean
    repaired = store.check(repair=True)
    assert all(p.repaired for p in repaired.problems if p.kind == "symlink")
    for link in links:
        assert not link.is_symlink(), f"check --repair left {link}"


def test_a_pending_record_symlinked_elsewhere_is_not_followed(store: JobStore, sentinel: Path) -> None:
    other = store.create("other").id
    planted = store.create("victim").id
    link = Path(pending_file(store.path, planted))
    record = json.loads(RECORD)
    record.update(id=planted, state="pending", value=None, value_encoding=None)
    planted_file = sentinel.parent / "planted-record.json"
    planted_file.write_text(json.dumps(record))
    before = planted_file.read_bytes()
    _plant(link, planted_file)
    spy = FsSpy(record_paths=True)
    with spy.installed():
        with pytest.raises((OSError, CorruptJobFile)):
            store.get(planted)
        listed = [job.id for job in store.jobs()]  # a planted link must not break listing
        assert listed == [other]
        lease = store.pull_work()
        assert lease is not None and lease.id == other
        lease.release()
        lease = store.pull_work()
        assert lease is not None and lease.id == other, "a pull raised or stopped at the planted link"
        lease.release()
        with pytest.raises((OSError, CorruptJobFile, JobStoreError)):
            store.fulfill(planted, "v")
    assert_stays_inside(store, spy)
    assert not os.path.exists(resolved_file(store.path, planted))
    assert planted_file.read_bytes() == before
    _symlinks_reported(store, link)


def test_a_resolved_record_symlinked_elsewhere_is_not_followed(store: JobStore, sentinel: Path) -> None:
    planted = store.create("victim").id
    store.fulfill(planted, "real value")
    link = Path(resolved_file(store.path, planted))
    _plant(link, sentinel / "record.json")
    spy = FsSpy(record_paths=True)
    with spy.installed():
        with pytest.raises((OSError, CorruptJobFile)):
            job = store.get(planted)
            assert job.value != b"secret from outside"
        assert all(job.value != b"secret from outside" for job in store.jobs())
        store.stats()
        with pytest.raises((OSError, CorruptJobFile, JobAlreadyResolved)):
            store.fulfill(planted, "again")
    assert_stays_inside(store, spy)
    _symlinks_reported(store, link)


def test_a_waiting_folder_symlinked_elsewhere_is_not_followed(store: JobStore, sentinel: Path) -> None:
    """queue() must not create a target file inside the folder the link points to,
    and get() must not list or read the files there."""
    job = store.create("victim").id
    link = Path(store.path, "waiting", job)
    _plant(link, sentinel / "sub")
    spy = FsSpy(record_paths=True)
    with spy.installed():
        try:
            store.queue(job, "t")
        except (OSError, JobStoreError):
            pass  # refusing is fine; writing through the link is not
        try:
            waiting = store.get(job).waiting
        except (OSError, JobStoreError):
            waiting = ()
        assert "outside" not in waiting, "get() read a target from outside the store"
        store.fulfill(job, "v")
        while (note := store.pull_notification()) is not None:
            assert "outside" not in note.waiting
            note.done([])
            break
    assert_stays_inside(store, spy)
    _symlinks_reported(store, link)


def test_a_target_file_symlinked_elsewhere_is_not_followed(store: JobStore, sentinel: Path) -> None:
    job = store.create("victim").id
    store.queue(job, "good")
    link = Path(store.path, "waiting", job, key_of("outside") + ".json")
    _plant(link, sentinel / "sub" / "deep.json")
    spy = FsSpy(record_paths=True)
    with spy.installed():
        assert store.get(job).waiting == ("good",), "a planted link broke get() or was followed"
        store.fulfill(job, "v")
        note = store.pull_notification()
        assert note is not None and note.waiting == ["good"]
        note.done(note.waiting)
        store.unqueue(job, "outside")  # unlinks the link itself, never what it points to
    assert_stays_inside(store, spy)
    assert not link.is_symlink()


def test_a_planted_target_link_is_reported_by_check(store: JobStore, sentinel: Path) -> None:
    job = store.create("victim").id
    store.queue(job, "good")
    store.fulfill(job, "v")
    link = Path(store.path, "waiting", job, key_of("outside") + ".json")
    _plant(link, sentinel / "sub" / "deep.json")
    _symlinks_reported(store, link)


def test_a_lease_symlinked_elsewhere_is_not_followed_and_does_not_stop_pulls(store: JobStore, sentinel: Path) -> None:
    victim = store.create("victim").id
    other = store.create("other").id
    link = Path(store.path, "leases", "work", victim)
    _plant(link, sentinel / "keep.txt")
    spy = FsSpy(record_paths=True)
    with spy.installed():
        assert store.get(victim).state == "running"  # a lease file is there: nobody may take it
        lease = store.pull_work()  # its sweep reads every lease file: the link must not break it
        assert lease is not None and lease.id == other
        lease.fulfill("v")
        with pytest.raises((OSError, JobStoreError)):
            store.fail(victim, "e", retry=True)  # busy: somebody's lease is there
    assert_stays_inside(store, spy)
    _symlinks_reported(store, link)


def test_a_due_marker_symlinked_elsewhere_is_reported(store: JobStore, sentinel: Path) -> None:
    job = store.create("victim").id
    store.queue(job, "t")
    store.fulfill(job, "v")
    link = Path(store.path, "due", job)
    _plant(link, sentinel / "keep.txt")
    spy = FsSpy(record_paths=True)
    with spy.installed():
        note = store.pull_notification()
        if note is not None:
            note.done(note.waiting)
    assert_stays_inside(store, spy)
    if link.is_symlink():
        _symlinks_reported(store, link)


@pytest.mark.parametrize("folder", ["pending", "resolved", "waiting", "tmp", "due", "leases/work"])
def test_a_store_folder_replaced_by_a_symlink_is_refused_at_open(tmp_path: Path, sentinel: Path,
                                                                  folder: str) -> None:
    JobStore(tmp_path / "store", watch=False, create=True).close()
    target = tmp_path / "elsewhere"
    target.mkdir()
    path = tmp_path / "store" / folder
    path.rmdir()
    path.symlink_to(target)
    with pytest.raises(InvalidStore, match="folder"):
        JobStore(tmp_path / "store", watch=False, create=True)
    assert os.listdir(target) == []


@pytest.mark.parametrize("folder", ["pending", "tmp", "resolved", "due", "waiting", "leases", "leases/work",
                                    "leases/holders"])
def test_a_store_folder_replaced_by_a_symlink_while_open_is_not_written_through(
    store: JobStore, tmp_path: Path, sentinel: Path, folder: str
) -> None:
    """Somebody sharing the folder swaps one of its folders for a link while a
    process has the store open: that process must not write through the link."""
    job = store.create("victim").id
    target = tmp_path / "elsewhere"
    target.mkdir()
    path = Path(store.path, folder)
    shutil.rmtree(path)
    path.symlink_to(target)
    spy = FsSpy(record_paths=True)
    with spy.installed():
        for call in (lambda: store.create("new"), lambda: store.queue(job, "t"), lambda: store.pull_work(),
                     lambda: store.fulfill(job, "v"), lambda: store.pull_notification(), lambda: store.purge(0)):
            try:
                call()
            except (OSError, JobStoreError):
                pass
    assert os.listdir(target) == [], f"the store wrote {os.listdir(target)} through {folder} -> {target}"
    assert_stays_inside(store, spy)


def test_a_store_marker_symlinked_elsewhere_is_refused(tmp_path: Path, sentinel: Path) -> None:
    JobStore(tmp_path / "store", watch=False, create=True).close()
    (sentinel / "marker.json").write_text(json.dumps({"format": 1, "created_at": "2026-01-01T00:00:00.000000Z"}))
    _plant(tmp_path / "store" / "fsjobstore.json", sentinel / "marker.json")
    with pytest.raises(InvalidStore):
        JobStore(tmp_path / "store", watch=False, create=True)
    (sentinel / "marker.json").unlink()


@pytest.mark.parametrize("planted", ["symlink", "dangling-symlink", "fifo"])
@pytest.mark.parametrize("planter", ["same-user", "other-user"])
def test_a_planted_maintenance_lock_is_refused_never_followed(store: JobStore, sentinel: Path, planted: str,
                                                              planter: str) -> None:
    """A group member plants maintenance.lock; root's purge and repair must neither
    follow it (filelock 3.16 truncated and chmodded the target) nor hang on it."""
    if planter == "other-user" and os.geteuid() != 0:
        pytest.skip("planting as another user needs root (to chown the planted name)")
    store.purge()
    lock = Path(store.path, "maintenance.lock")
    lock.unlink()
    if planted == "fifo":
        os.mkfifo(lock)
    else:
        lock.symlink_to(sentinel / ("keep.txt" if planted == "symlink" else "made-by-the-lock"))
    if planter == "other-user":
        os.lchown(lock, 65534, 65534)
    for maintenance in (store.purge, lambda: store.check(repair=True)):
        with pytest.raises(JobStoreError, match="never"):
            maintenance()
    assert (sentinel / "keep.txt").read_text() == "precious"
    assert not (sentinel / "made-by-the-lock").exists()


def test_a_quarantine_symlinked_elsewhere_is_never_written_through(store: JobStore, tmp_path: Path,
                                                                   sentinel: Path) -> None:
    job = store.create("to be corrupted").id
    pending = Path(pending_file(store.path, job))
    pending.write_bytes(b"garbage{")
    _plant(Path(store.path, "quarantine"), sentinel)
    with pytest.raises(JobStoreError, match="never followed"):
        store.check(repair=True)
    assert pending.read_bytes() == b"garbage{", "the corrupt file stays where it was"


# -- permissions ------------------------------------------------------------------------------------

@pytest.mark.parametrize("umask", [0o027, 0o077, 0o002])
def test_files_and_folders_follow_the_process_umask(tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        store = JobStore(tmp_path / "store", lease_seconds=LEASE, watch=False, create=True)
        job = store.create("x").id
        store.queue(job, "t")
        lease = store.pull_work()
        assert lease is not None
        other = store.create("y").id
        store.fail(other, "e", retry=True)
        lease.fulfill("v")
        note = store.pull_notification()
        assert note is not None  # a notification lease file exists while we look
        store.check(repair=True)
        store.purge()
        modes = {}
        for folder, dirs, files in os.walk(tmp_path / "store"):
            for name in dirs + files:
                path = os.path.join(folder, name)
                modes[os.path.relpath(path, tmp_path / "store")] = (os.path.isdir(path), os.lstat(path).st_mode & 0o777)
        note.release()
        store.close()
    finally:
        os.umask(previous)
    wrong = {path: oct(mode) for path, (is_dir, mode) in modes.items()
             if mode != (0o777 if is_dir else 0o666) & ~umask}
    assert not wrong, f"with umask {oct(umask)} these have other modes: {wrong}"
    assert any(path.startswith("leases/notify/") for path in modes)


def test_a_waiting_folder_swapped_for_a_symlink_is_not_followed(
    store: JobStore, tmp_path: Path, sentinel: Path
) -> None:
    """A job's waiting folder swapped for a symlink by a neighbour: every call goes
    through the folder's own descriptor, opened with O_NOFOLLOW when first used,
    so there is no check-then-use window: the swap is refused, never followed."""
    job = store.create("victim").id
    store.queue(job, "first")
    target = tmp_path / "elsewhere"
    target.mkdir()
    folder = Path(store.path, "waiting", job)
    shutil.rmtree(folder)
    folder.symlink_to(target)
    spy = FsSpy(record_paths=True)
    with spy.installed():
        with pytest.raises(CorruptJobFile):
            store.queue(job, "second")
        assert store.get(job).waiting == ()
        store.fulfill(job, "v")
        assert store.pull_notification() is None
    assert os.listdir(target) == [], f"the store wrote {os.listdir(target)} through waiting/{job}"
    assert_stays_inside(store, spy)
