"""A pull reads back a pending record this store object wrote without parsing it
again, but only while the file holds exactly what was written: anything else on
disk (another writer's record, a corrupt file) is read as ever."""

from __future__ import annotations

import os

import pytest
from invariants import pending_file

from fsjobstore import CorruptJobFile, JobStore
from fsjobstore._files.records import Record
from fsjobstore._store.written import Written


def _rewrite(store: JobStore, job_id: str, old: bytes, new: bytes) -> None:
    path = pending_file(store.path, job_id)
    with open(path, "rb") as file:
        data = file.read()
    assert old in data
    with open(path + ".new", "wb") as file:
        file.write(data.replace(old, new))
    os.replace(path + ".new", path)


def test_a_pull_gets_the_request_as_written_whatever_the_caller_changed_since(store: JobStore) -> None:
    request = {"n": 1, "items": [1, 2]}
    labels = {"sender": "a"}
    job = store.create(request, labels=labels)
    request["n"] = 2
    request["items"].append(3)  # type: ignore[attr-defined]
    labels["sender"] = "b"
    lease = store.pull_work()
    assert lease is not None and lease.id == job.id
    assert lease.request == {"n": 1, "items": [1, 2]} and lease.job.labels == {"sender": "a"}
    lease.request["n"] = 3  # the worker's own copy: not the caller's, not the store's
    assert request["n"] == 2
    lease.fulfill("done")
    assert store.get(job.id).request == {"n": 1, "items": [1, 2]}


def test_a_record_changed_on_disk_since_it_was_written_is_read_from_disk(store: JobStore) -> None:
    job = store.create({"n": 1})
    _rewrite(store, job.id, b'"n": 1', b'"n": 7')  # as another host's replace would
    lease = store.pull_work()
    assert lease is not None and lease.request == {"n": 7}
    lease.fulfill("done")
    assert store.get(job.id).request == {"n": 7}


def test_a_record_corrupted_since_it_was_written_is_passed_over(store: JobStore) -> None:
    job = store.create({"n": 1})
    _rewrite(store, job.id, b'"attempts": 0', b'"attempts": "zero"')
    assert store.pull_work() is None  # not the record as written: the file as it is
    with pytest.raises(CorruptJobFile, match="attempts is not an integer"):
        store.get(job.id)


def test_written_forgets_the_oldest_and_hands_each_record_out_once() -> None:
    written = Written(size=2)
    records = [Record.new(f"01JD3Z6M6W4Q8S1V2X3Y4Z5A6{c}", {"c": c}, f'{{"c": "{c}"}}') for c in "ABC"]
    for record in records:
        written.remember(record, record.render())
    first, second, third = records
    assert written.recall(first.id, first.render()) is None  # forgotten: the least recently written
    assert written.recall(second.id, third.render()) is None  # other bytes: not that record
    assert written.recall(second.id, second.render()) is None  # (a failed recall forgets it too)
    recalled = written.recall(third.id, third.render())
    assert recalled is not None and recalled.fields == third.fields and recalled.render() == third.render()
    assert written.recall(third.id, third.render()) is None  # handed out once
