"""Deadlines on disk: a relative one is judged on the filesystem's clock (the record's
mtime), kept in the record, and gone once the job is retried."""

from __future__ import annotations

import os
import time
from pathlib import Path

from fsjobstore import JobStore


def test_a_relative_deadline_counts_from_the_records_mtime(store: JobStore) -> None:
    job = store.create("x", deadline=3600)
    path = store.record_path(job.id)
    assert b'"deadline_in": 3600' in Path(path).read_bytes()
    then = time.time() - 3601  # as if written an hour ago by the filesystem's clock
    os.utime(path, (then, then))
    assert store.pull_work() is None
    expired = store.get(job.id)
    assert expired.state == "expired" and b'"deadline_in": 3600' in Path(store.record_path(job.id)).read_bytes()
    store.retry(job.id)
    assert b'"deadline' not in Path(store.record_path(job.id)).read_bytes()


def test_a_job_is_expired_by_a_puller_of_another_task(store: JobStore) -> None:
    job = store.create("x", task="mail", deadline=0.01)
    time.sleep(0.05)
    assert store.pull_work(tasks=["print"]) is None
    assert store.get(job.id).state == "expired"


def test_a_record_without_a_deadline_has_no_deadline_field(store: JobStore) -> None:
    job = store.create("x")
    assert b'"deadline' not in Path(store.record_path(job.id)).read_bytes() and job.deadline is None
