"""create_many on disk: the fsyncs it makes, what a failed write leaves, jobs whole
in their queues' folders, and batches under ids the caller picked (the HTTP server's)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from invariants import FsSpy, check_files, nth, pending_file, record_files

from fsjobstore import JobSpec, JobStateError, JobStore, JobTooLarge
from fsjobstore._files.ids import new_id


def names(store: JobStore, folder: str) -> list[str]:
    return sorted(os.listdir(os.path.join(store.path, folder)))


def test_a_durable_batch_fsyncs_each_file_and_each_folder_once(tmp_path: Path) -> None:
    with JobStore(tmp_path / "s", durable=True, create=True) as store:
        before = {os.path.dirname(pending_file(store.path, job.id))
                  for job in store.create_many([JobSpec(0), JobSpec(0, labels={"to": "mailer"})])}
        spy = FsSpy(every_thread=True)  # (the files are fsynced several at once, by a pool's threads)
        with spy.installed():
            made = store.create_many([{"n": n} for n in range(600)] + [JobSpec(-1, labels={"to": "mailer"})])
        buckets = {os.path.dirname(pending_file(store.path, job.id)) for job in made}
        fsyncs = spy.counted("fsync")
        # (a bucket made by this batch, when the clock has moved to the next: its entry
        # in its parent fsynced before any rename into it)
        new = len(buckets - before)
        assert len(fsyncs) == 601 + new + len(buckets), "a file fsync per job, then each bucket folder once"
        assert len(spy.counted("rename")) == 601
        assert len(record_files(store.path, "pending")) == 601 and names(store, "tmp") == []
        assert [job.request for job in made[:3]] == [{"n": 0}, {"n": 1}, {"n": 2}]
        # the folder fsyncs come after every rename: the names are published first
        last_rename = max(call.index for call in spy.counted("rename"))
        assert sorted(call.index > last_rename for call in fsyncs) == [False] * (601 + new) + [True] * len(buckets)


def test_each_record_is_the_one_create_would_write(store: JobStore) -> None:
    one = store.create({"n": 1}, task="t", labels={"a": "b"}, priority=3, expires_in=60, not_before=5)
    many = store.create_many([{"n": 1}, {"n": 2}], task="t", labels={"a": "b"}, priority=3, expires_in=60,
                             not_before=5)
    def record(job_id: str) -> dict[str, object]:
        with open(pending_file(store.path, job_id), encoding="utf-8") as file:
            fields = json.load(file)
        return {k: v for k, v in fields.items() if k not in ("id", "created_at", "updated_at", "request")}

    assert record(many[0].id) == record(many[1].id) == record(one.id)
    assert [store.get(job.id).request for job in many] == [{"n": 1}, {"n": 2}]
    assert many[1] == store.get(many[1].id), "the Job returned is the job as read back"


def test_a_request_over_the_size_limit_names_its_item(tmp_path: Path) -> None:
    with JobStore(tmp_path / "s", durable=False, create=True, max_bytes=1000) as store:
        with pytest.raises(JobTooLarge, match=r"requests\[1\]: request is \d+ bytes"):
            store.create_many(["small", "x" * 2000])
        assert store.stats()["pending"] == 0 and names(store, "tmp") == []


def test_a_write_that_fails_midway_leaves_no_job_and_no_temp_file(tmp_path: Path) -> None:
    """Every file is written before any is published: a full disk at the 30th file
    leaves no job at all, and the temp files written before it are removed."""
    with JobStore(tmp_path / "s", durable=True, create=True) as store:
        store.create("before")
        with FsSpy(fault=nth("write", 30, errno.ENOSPC, partial_write=True)).installed(), \
                pytest.raises(OSError, match="No space"):
            store.create_many([{"n": n} for n in range(100)])
        assert [job.request for job in store.jobs()] == ["before"]
        assert names(store, "tmp") == []
        check_files(store.path)


def test_an_fsync_that_fails_leaves_no_job_and_no_temp_file(tmp_path: Path) -> None:
    with JobStore(tmp_path / "s", durable=True, create=True) as store:
        spy = FsSpy(every_thread=True, fault=nth("fsync", 300, errno.EIO))
        with spy.installed(), pytest.raises(OSError, match="Input/output"):
            store.create_many([{"n": n} for n in range(600)])
        assert list(store.jobs()) == [] and names(store, "tmp") == []
        assert spy.counted("rename") == []
        check_files(store.path)


def test_a_rename_that_fails_midway_leaves_the_jobs_before_it_whole(tmp_path: Path) -> None:
    with JobStore(tmp_path / "s", durable=True, create=True) as store:
        with FsSpy(fault=nth("rename", 11, errno.EIO)).installed(), pytest.raises(OSError):
            store.create_many([{"n": n} for n in range(40)])
        assert sorted(job.request["n"] for job in store.jobs()) == list(range(10)), "the first ten, each whole"
        assert names(store, "tmp") == []
        check_files(store.path)


def test_a_batch_sent_again_under_its_ids_makes_no_second_job(store: JobStore) -> None:
    ids = [new_id() for _ in range(5)]
    specs = [JobSpec({"n": n}, task="t") for n in range(5)]
    first = store.create_many(specs, job_ids=ids)
    assert [job.id for job in first] == ids
    lease = store.pull_work()
    assert lease is not None
    lease.fulfill("done")
    again = store.create_many(specs, job_ids=ids)
    assert [job.id for job in again] == ids and store.stats()["pending"] == 4
    assert store.get(lease.id).state == "fulfilled" and {job.state for job in again} == {"pending", "fulfilled"}
    assert not os.path.exists(pending_file(store.path, lease.id)), "the resolved job's copy tidied"
    with pytest.raises(JobStateError, match="another request"):
        store.create_many([JobSpec({"n": 99}, task="t")], job_ids=ids[:1])


def test_job_ids_must_match_the_requests(store: JobStore) -> None:
    with pytest.raises(ValueError, match="2 job ids for 3 requests"):
        store.create_many([1, 2, 3], job_ids=[new_id(), new_id()])
    assert store.stats()["pending"] == 0
