"""Unique keys on disk: the key file is the job's first record, a creation that
stopped between its two links is finished, purge frees the key (docs/format.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fsjobstore import CorruptJobFile, JobStore
from fsjobstore._files import fsio
from fsjobstore._files.ids import new_id
from fsjobstore._files.records import Record
from fsjobstore._files.values import encode_json
from fsjobstore._store.keys import key_name


def key_file(store: JobStore, key: str) -> Path:
    return Path(store.path, "keys", key_name(key))


def stop_between_the_links(store: JobStore, key: str, request: object) -> str:
    """What a creator that died after publishing the key, before the pending record, leaves."""
    record = Record.new(new_id(), request, encode_json(request, "request"), key=key)
    layout = store.context.layout
    fsio.publish(layout.tmp, layout.keys, key_name(key), record.render(), durable=False, replace=False)
    return record.id


def test_the_key_file_and_the_pending_record_are_one_file(store: JobStore) -> None:
    job = store.create({"n": 1}, key="order-42")
    pending = Path(store.record_path(job.id))
    assert os.path.samefile(pending, key_file(store, "order-42"))
    assert b'"key": "order-42"' in pending.read_bytes()
    assert os.listdir(Path(store.path, "tmp")) == []


def test_a_record_without_a_key_has_no_key_field(store: JobStore) -> None:
    job = store.create(1)
    assert b'"key"' not in Path(store.record_path(job.id)).read_bytes()
    assert job.key is None and os.listdir(Path(store.path, "keys")) == []


def test_a_create_that_stopped_between_its_links_is_finished_by_the_next_create(store: JobStore) -> None:
    orphan = stop_between_the_links(store, "k", {"first": 1})
    assert list(store.jobs()) == []
    job = store.create({"second": 1}, key="k")
    assert job.id == orphan and job.request == {"first": 1} and job.state == "pending"
    lease = store.pull_work()
    assert lease is not None and lease.id == orphan


def test_check_repair_finishes_a_create_that_stopped_between_its_links(store: JobStore) -> None:
    orphan = stop_between_the_links(store, "k", {"first": 1})
    report = store.check()
    assert [(p.kind, p.repaired) for p in report.problems] == [("unfinished-create", False)]
    assert [p.kind for p in store.check(repair=True).problems] == ["unfinished-create"]
    assert store.check().clean
    assert store.get(orphan).request == {"first": 1}


def test_a_purged_jobs_key_file_goes_with_it_and_a_kept_jobs_stays(store: JobStore) -> None:
    done = store.create(1, key="done")
    kept = store.create(2, key="kept")
    store.queue(kept.id, "someone")  # a resolved job with targets waiting is kept
    store.fulfill(done.id, "x")
    store.fulfill(kept.id, "y")
    assert store.purge(older_than=0) == 1
    assert not key_file(store, "done").exists() and key_file(store, "kept").exists()
    assert store.create(3, key="kept").id == kept.id
    assert [f for f in os.listdir(Path(store.path, "tmp"))] == []


def test_replace_rewrites_the_pending_record_and_leaves_the_key_file(store: JobStore) -> None:
    job = store.create({"v": 1}, key="k")
    store.create({"v": 2}, key="k", on_conflict="replace")
    assert not os.path.samefile(store.record_path(job.id), key_file(store, "k"))
    assert store.get(job.id).request == {"v": 2}
    assert store.check().clean


def test_a_corrupt_key_file_is_named_and_quarantined_by_repair(store: JobStore) -> None:
    key_file(store, "k").write_bytes(b"not json")
    with pytest.raises(CorruptJobFile, match=key_name("k")):
        store.create(1, key="k")
    assert list(store.jobs()) == []
    assert [p.kind for p in store.check(repair=True).problems] == ["corrupt"]
    assert store.create(1, key="k").key == "k"


def test_an_extend_ends_another_pullers_deferral(tmp_path: Path) -> None:
    with JobStore(tmp_path / "s", durable=False, create=True) as one, JobStore(tmp_path / "s") as two:
        job = one.create(1, key="k", not_before=3600)
        assert two.pull_work() is None  # deferred by this store object for an hour
        one.create(None, key="k", on_conflict="extend", not_before=0)
        lease = two.pull_work()
        assert lease is not None and lease.id == job.id
        lease.release()
