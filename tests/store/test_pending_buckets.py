"""Pending records in bucket folders (format 3): where each record is, what a count
and a first page list, and what a durable create makes durable."""

from __future__ import annotations

import os
import time
from pathlib import Path

from invariants import FsSpy, pending_file

from fsjobstore import JobStore
from fsjobstore._files.ids import new_id


def _buckets(store: JobStore, names: str, per_bucket: int = 3) -> tuple[str, dict[str, list[str]]]:
    """Jobs in buckets of their own, one per letter of *names*, oldest first: the
    common prefix and the ids of each bucket's jobs."""
    base = new_id()[:6]
    made = {letter: sorted(store.create(n, job_id=base + letter + new_id()[7:]).id for n in range(per_bucket))
            for letter in names}
    return base, made


def _listed(spy: FsSpy) -> set[str]:
    """The folders a spied call listed, by name."""
    return {os.path.basename(path) for call, path in spy.paths if call in ("listdir", "scandir")}


def test_each_pending_record_is_in_the_bucket_its_id_names(tmp_path: Path) -> None:
    with JobStore(tmp_path / "s", durable=False, watch=False, create=True) as store:
        base, made = _buckets(store, "AB")
        queued = store.create("q", priority=4, job_id=base + "C" + new_id()[7:])
        assert sorted(os.listdir(tmp_path / "s" / "pending")) == [base + "A", base + "B"]
        assert os.listdir(tmp_path / "s" / "queues" / "any" / "p4") == [base + "C"]
        for job_id in [*made["A"], *made["B"], queued.id]:
            assert store.record_path(job_id) == pending_file(store.path, job_id)
        assert store.check().clean


def test_a_count_after_a_change_lists_only_the_buckets_that_changed(tmp_path: Path) -> None:
    with JobStore(tmp_path / "s", durable=False, watch=False, create=True) as store:
        base, made = _buckets(store, "ABCD")
        hour_ago = time.time() - 3600
        for letter in "ABCD":  # (settled: their counts are saved, and trusted while they are unchanged)
            os.utime(tmp_path / "s" / "pending" / (base + letter), (hour_ago, hour_ago))
        assert store.stats()["pending"] == 12
        store.fulfill(made["A"][0], "v")
        store.cancel(made["C"][1])
        spy = FsSpy(record_paths=True)
        with spy.installed():
            assert store.stats()["pending"] == 10
        assert _listed(spy) & {base + letter for letter in "ABCD"} == {base + "A", base + "C"}
    with JobStore(tmp_path / "s", durable=False, watch=False) as other:  # (what another process counts)
        assert other.stats()["pending"] == 10


def test_a_first_page_lists_only_the_buckets_it_passes(tmp_path: Path) -> None:
    with JobStore(tmp_path / "s", durable=False, watch=False, create=True) as store:
        base, made = _buckets(store, "ABCD")
        buckets = {base + letter for letter in "ABCD"}
        pages = {
            "oldest first": ({"limit": 2}, made["A"][:2], {"A"}),
            "newest first": ({"limit": 4, "newest_first": True}, [*made["D"][::-1], made["C"][-1]], {"D", "C"}),
            "after a cursor": ({"limit": 2, "after": made["B"][-1]}, made["C"][:2], {"B", "C"}),
        }
        for name, (options, expected, listed) in pages.items():
            spy = FsSpy(record_paths=True)
            with spy.installed():
                page = [job.id for job in store.jobs("pending", **options)]  # type: ignore[arg-type]
            assert page == expected, name
            assert _listed(spy) & buckets == {base + letter for letter in listed}, name


def test_a_durable_create_makes_its_new_bucket_durable_before_the_record(tmp_path: Path) -> None:
    with JobStore(tmp_path / "s", durable=True, watch=False, create=True) as store:
        base = new_id()[:6]
        for letter, fsyncs_before in (("A", 2), ("A", 1), ("B", 2)):  # (the parent's, when its bucket is new)
            spy = FsSpy()
            with spy.installed():
                store.create("x", job_id=base + letter + new_id()[7:])
            (link,) = [call.index for call in spy.counted("link")]  # (an id picked by the caller: linked)
            fsyncs = [call.index for call in spy.counted("fsync")]
            assert [index < link for index in fsyncs] == [True] * fsyncs_before + [False], (letter, spy.calls)
            made = [call.index for call in spy.counted("mkdir")]
            assert all(index < fsyncs[0] for index in made), "the bucket made, then its parent fsynced"
