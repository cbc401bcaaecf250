"""Candidates: the names a puller tries next, read from a folder a chunk at a time."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest
from invariants import FakeClock

from fsjobstore._files.folders import Folder
from fsjobstore._files.ids import new_id
from fsjobstore._store import candidates as candidates_module
from fsjobstore._store.candidates import Candidates

SUFFIX = ".json"


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    (tmp_path / "pending").mkdir()
    return Folder(str(tmp_path / "pending"))


@pytest.fixture
def no_shuffle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep each chunk in sorted (oldest first) order."""
    monkeypatch.setattr(candidates_module.random, "shuffle", lambda block: None)


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(candidates_module, "CHUNK", 8)
    return 8


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Make fsjobstore.candidates read the monotonic clock from a FakeClock."""
    fake = FakeClock()
    monkeypatch.setattr(candidates_module, "time", fake)
    return fake


def make(folder: Folder, count: int) -> list[str]:
    """*count* new records in *folder*; their ids, oldest first."""
    ids = [new_id() for _ in range(count)]
    for job_id in ids:
        Path(folder.join(job_id + SUFFIX)).write_text("{}")
    return ids


class Listing:
    """What os.scandir returns (an iterator and a context manager), in a chosen order."""

    def __init__(self, entries: list[os.DirEntry[str]]) -> None:
        self._entries = iter(entries)

    def __iter__(self) -> Listing:
        return self

    def __next__(self) -> os.DirEntry[str]:
        return next(self._entries)

    def __enter__(self) -> Listing:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._entries = iter(())


def replace_file(folder: Folder, job_id: str) -> None:
    """Rewrite a record as a writer does: a new file renamed over it (a new inode)."""
    temp = folder.join(job_id + SUFFIX + ".tmp")
    Path(temp).write_text('{"rewritten": true}')
    os.replace(temp, folder.join(job_id + SUFFIX))


def test_a_small_folder_is_yielded_whole_oldest_first(folder: Folder, no_shuffle: None) -> None:
    ids = make(folder, 40)
    candidates = Candidates(folder, SUFFIX)
    assert list(candidates.names()) == ids
    assert list(candidates.names()) == ids  # each call: one whole pass


def test_shuffling_stays_within_blocks_of_16(folder: Folder) -> None:
    ids = make(folder, 40)
    got = list(Candidates(folder, SUFFIX).names())
    assert sorted(got) == ids
    for start in range(0, len(ids), 16):
        assert sorted(got[start : start + 16]) == ids[start : start + 16]


def test_a_large_folder_is_read_in_sorted_chunks_once_per_pass(
    folder: Folder, no_shuffle: None, small_chunks: int
) -> None:
    ids = make(folder, 50)
    candidates = Candidates(folder, SUFFIX)
    one_pass = list(candidates.names())
    assert len(one_pass) == len(set(one_pass)) == 50
    assert set(one_pass) == set(ids)
    chunks = [one_pass[start : start + small_chunks] for start in range(0, 50, small_chunks)]
    assert [len(chunk) for chunk in chunks] == [8] * 6 + [2]
    for chunk in chunks:
        assert chunk == sorted(chunk)
    assert list(candidates.names()) == one_pass  # an unchanged folder: the same pass again


def test_names_not_consumed_stay_for_the_next_call(folder: Folder, no_shuffle: None, small_chunks: int) -> None:
    make(folder, 50)
    one_pass = list(Candidates(folder, SUFFIX).names())
    candidates = Candidates(folder, SUFFIX)
    first = list(itertools.islice(candidates.names(), 3))
    assert first == one_pass[:3]
    # The next call goes on where the last stopped (no rescan from the start),
    # finishes the pass under way, then makes one whole pass.
    second = list(candidates.names())
    assert second == one_pass[3:] + one_pass
    assert list(itertools.islice(candidates.names(), 12)) == one_pass[:12]
    assert list(itertools.islice(candidates.names(), 3)) == one_pass[12:15]


def test_a_name_made_during_a_pass_is_seen_by_a_call_started_after_it(
    folder: Folder, no_shuffle: None, small_chunks: int
) -> None:
    ids = make(folder, 50)
    candidates = Candidates(folder, SUFFIX)
    consumed = list(itertools.islice(candidates.names(), 10))  # into the second chunk
    assert len(consumed) == 10
    (late,) = make(folder, 1)
    got = list(candidates.names())
    assert late in got
    assert set(got) == set(ids) | {late}  # and every name present when the call started
    assert got.count(late) in (1, 2)  # the pass under way may or may not have listed it


def test_deferred_names_are_skipped_until_due(folder: Folder, clock: FakeClock) -> None:
    first, second, third = make(folder, 3)
    candidates = Candidates(folder, SUFFIX)
    assert candidates.next_due() is None
    assert sorted(candidates.names()) == [first, second, third]
    candidates.defer(second, 10)
    candidates.defer(third, 4)
    assert candidates.next_due() == pytest.approx(4)  # the earliest deferral
    assert sorted(candidates.names()) == [first]
    clock.advance(3.5)
    assert candidates.next_due() == pytest.approx(0.5)
    assert sorted(candidates.names()) == [first]
    clock.advance(0.5)
    assert sorted(candidates.names()) == [first, third]
    assert candidates.next_due() == pytest.approx(6)
    clock.advance(5.9)
    assert sorted(candidates.names()) == [first, third]
    clock.advance(0.1)
    assert sorted(candidates.names()) == [first, second, third]
    assert candidates.next_due() is None
    clock.advance(100)
    assert candidates.next_due() is None


def _identity(folder: Folder, name: str) -> tuple[int, int]:
    info = os.lstat(folder.join(name + SUFFIX))
    return info.st_ino, info.st_ctime_ns


def test_a_deferred_name_whose_new_file_got_the_freed_inode_number_is_tried_again(
    folder: Folder, clock: FakeClock
) -> None:
    # ext4 hands a new file the inode number just freed: a cancel removes the
    # record, a retry writes a new one, and the listing shows the same number.
    job, unchanged = make(folder, 2)
    candidates = Candidates(folder, SUFFIX)
    assert sorted(candidates.names()) == [job, unchanged]
    ino, ctime = _identity(folder, job)
    candidates.defer(job, 100, (ino, ctime - 1))  # the same number, another file
    candidates.defer(unchanged, 100, _identity(folder, unchanged))
    assert list(candidates.names()) == [job], "only the file that changed is tried again"


def test_a_deferred_name_whose_file_is_replaced_is_tried_again(folder: Folder, clock: FakeClock) -> None:
    first, second = make(folder, 2)
    candidates = Candidates(folder, SUFFIX)
    assert sorted(candidates.names()) == [first, second]
    candidates.defer(first, 100, _identity(folder, first))
    candidates.defer(second, 100, _identity(folder, second))
    assert list(candidates.names()) == []
    replace_file(folder, first)  # a new file (e.g. a retry by another process)
    assert list(candidates.names()) == [first]
    assert list(candidates.names()) == [first]  # its deferral is over for good
    assert candidates.next_due() == pytest.approx(100)  # the other one's stays
    clock.advance(100)
    assert sorted(candidates.names()) == [first, second]


def test_what_was_learnt_of_names_gone_is_forgotten_at_the_end_of_a_pass(folder: Folder, clock: FakeClock) -> None:
    noted, deferred, kept = make(folder, 3)
    candidates = Candidates(folder, SUFFIX)
    assert sorted(candidates.names()) == [noted, deferred, kept]
    candidates.note(noted, ("task", None))
    candidates.note(kept, ("other", "resource"))
    candidates.defer(deferred, 100)
    candidates.defer(kept, 50)
    os.unlink(folder.join(noted + SUFFIX))
    os.unlink(folder.join(deferred + SUFFIX))
    assert candidates.noted(noted) == ("task", None)  # until a pass ends without them
    assert list(candidates.names()) == []  # a whole pass: `kept` is deferred
    assert candidates.noted(noted) is None
    assert candidates.noted(kept) == ("other", "resource")  # still listed: kept
    assert candidates.next_due() == pytest.approx(50)  # only `kept` is still deferred
    # Files made again under the old names start afresh.
    Path(folder.join(noted + SUFFIX)).write_text("{}")
    Path(folder.join(deferred + SUFFIX)).write_text("{}")
    assert sorted(candidates.names()) == sorted([noted, deferred])
    assert candidates.noted(noted) is None


def test_a_deferral_survives_its_name_moving_into_the_last_chunk_of_a_pass(
    folder: Folder, clock: FakeClock, small_chunks: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Directory order is the filesystem's (hash order on ext4) and may change as
    # names come and go. Here it is chosen: `moved` first, then last of all.
    ids = make(folder, small_chunks)  # exactly one chunk
    moved = ids[0]
    last: list[str] = []
    real_scandir = os.scandir

    def scandir(path: str) -> Listing:
        with real_scandir(path) as stream:
            return Listing(sorted(stream, key=lambda entry: (entry.name[: -len(SUFFIX)] in last, entry.name)))

    monkeypatch.setattr(os, "scandir", scandir)
    candidates = Candidates(folder, SUFFIX)
    assert sorted(candidates.names()) == ids
    candidates.defer(moved, 100)
    candidates.note(moved, ("task", None))
    (added,) = make(folder, 1)  # now two chunks: `moved` comes in the second
    last.append(moved)
    got = list(candidates.names())
    assert moved not in got, "a deferred name still listed was tried before it was due"
    assert sorted(got) == sorted(ids[1:] + [added])
    assert candidates.noted(moved) == ("task", None)
    assert candidates.next_due() == pytest.approx(100)


def test_stray_names_are_never_yielded(folder: Folder) -> None:
    (job,) = make(folder, 1)
    other = new_id()
    for stray in (
        "has space.json",
        "a.b.json",
        f"{other}.break.json",
        f"{other}.txt",
        f"{other}.json.tmp",
        f"{other}",
        ".json",
    ):
        Path(folder.join(stray)).write_text("stray")
    assert list(Candidates(folder, SUFFIX).names()) == [job]


def test_stray_names_without_a_suffix(tmp_path: Path) -> None:
    (tmp_path / "due").mkdir()
    due = Folder(str(tmp_path / "due"))
    job = new_id()
    for name in (job, f"{job}.break", f"{job}.new-0123abcd", "bad name"):
        Path(due.join(name)).write_text("")
    assert list(Candidates(due, "").names()) == [job]


def test_a_missing_folder_yields_nothing(tmp_path: Path) -> None:
    missing = Folder(str(tmp_path / "missing"))
    candidates = Candidates(missing, SUFFIX)
    assert list(candidates.names()) == []
    assert list(candidates.names()) == []
    assert candidates.next_due() is None
    assert not candidates.present(new_id())
    os.mkdir(missing.path)  # made later: then read as usual
    ids = make(missing, 2)
    assert sorted(candidates.names()) == ids


def test_present_is_whether_the_file_is_there(folder: Folder) -> None:
    (job,) = make(folder, 1)
    candidates = Candidates(folder, SUFFIX)
    assert candidates.present(job)
    assert not candidates.present(new_id())
    os.unlink(folder.join(job + SUFFIX))
    assert not candidates.present(job)
    os.symlink("/nonexistent", folder.join(job + SUFFIX))  # lstat: a dangling link is still a name
    assert candidates.present(job)


def test_what_a_pass_keeps_does_not_grow_with_the_backlog(folder: Folder, small_chunks: int) -> None:
    # A worker draining a large backlog must not hold every name of the pass.
    ids = make(folder, 10 * small_chunks)
    candidates = Candidates(folder, SUFFIX)
    names = candidates.names()
    taken = [next(names) for _ in range(5 * small_chunks)]
    assert len(set(taken)) == len(taken)
    assert candidates.queued <= small_chunks  # at most one chunk queued
    assert candidates.remembered == 0  # nothing deferred or noted: nothing kept
    candidates.note(taken[-1], ("task", None))  # learnt during the pass: kept...
    rest = list(names)
    assert sorted(taken + rest[: len(ids) - len(taken)]) == ids
    assert candidates.noted(taken[-1]) == ("task", None)  # ...because it is still listed


def test_a_chunk_just_read_is_taken_as_present(folder: Folder, monkeypatch: pytest.MonkeyPatch) -> None:
    # No lstat for names the listing has just shown: a claim finds one gone since.
    monkeypatch.setattr(candidates_module, "FRESH", 3600.0)
    (job,) = make(folder, 1)
    candidates = Candidates(folder, SUFFIX)
    assert next(candidates.names()) == job  # (reads the chunk)
    os.unlink(folder.join(job + SUFFIX))
    assert candidates.present(job)
    monkeypatch.setattr(candidates_module, "FRESH", 0.0)
    assert not candidates.present(job)


def _in_bucket(folder: Folder, bucket: str, count: int) -> list[str]:
    """*count* records in the pending bucket *bucket* (7 characters) of *folder*; their ids."""
    os.makedirs(os.path.join(folder.path, bucket), exist_ok=True)
    ids = sorted(bucket + new_id()[7:] for _ in range(count))
    for job_id in ids:
        Path(folder.path, bucket, job_id + SUFFIX).write_text("{}")
    return ids


def test_a_pass_over_buckets_goes_oldest_bucket_first_chunk_by_chunk(
        folder: Folder, no_shuffle: None, small_chunks: int) -> None:
    base = new_id()[:6]
    newer = _in_bucket(folder, base + "9", 5)
    older = _in_bucket(folder, base + "1", 5)
    middle = _in_bucket(folder, base + "5", 5)
    Path(folder.path, "not a bucket").mkdir()  # (a stray: never listed)
    folder.anchor()
    index = Candidates(folder, SUFFIX, bucketed=True)
    names = index.names()
    first = list(itertools.islice(names, small_chunks))
    # (a chunk is sorted, its names read in directory order: the whole older bucket, 3 of the middle one)
    assert first[:5] == older and set(first[5:]) < set(middle), "one chunk spans buckets, oldest first"
    assert index.path_of(older[0]) == os.path.join(folder.path, base + "1", older[0] + SUFFIX)
    later = _in_bucket(folder, base + "0", 2)  # (made during the pass, older than any: for the next)
    rest = list(names)
    assert rest == sorted(set(middle) - set(first)) + newer, "the pass goes on in order, and ends"
    assert list(index.names())[:2] == later, "the next pass reads the bucket made since"
    folder.close()


def test_a_bucket_removed_during_a_pass_is_skipped(folder: Folder, no_shuffle: None, small_chunks: int) -> None:
    base = new_id()[:6]
    older = _in_bucket(folder, base + "1", small_chunks)
    gone = base + "5"
    os.makedirs(os.path.join(folder.path, gone))
    newer = _in_bucket(folder, base + "9", 2)
    folder.anchor()
    names = Candidates(folder, SUFFIX, bucketed=True).names()
    assert list(itertools.islice(names, small_chunks)) == older
    os.rmdir(os.path.join(folder.path, gone))  # (an empty bucket a purge removed)
    assert list(itertools.islice(names, 2)) == newer
    folder.close()
