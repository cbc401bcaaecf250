"""A purge, which removes the empty bucket folders of pending records, interleaved call
by call with a writer publishing a new pending record into such a bucket.

As test_purge_interleavings.py does, one operation is stopped before each of its
filesystem calls and the other is run, whole, from a second store object (another
process, as far as the store can tell): a purge within each step of a write, and a
write within each step of a purge. The writer's store object has the bucket open
already (it made a job there, since resolved), so it publishes through a
descriptor of a folder the purge may remove. Whatever the interleaving, the write
succeeds, and its job is pending, in its bucket, once both are done.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from invariants import FsSpy, assert_check_clean, before_call, check_files, observe, pending_file

from fsjobstore import JobStore
from fsjobstore._files.ids import new_id


def _in_bucket_of(job_id: str) -> str:
    """A new id in the pending bucket of *job_id* (its first 7 characters)."""
    return job_id[:7] + new_id()[7:]


# What publishes a new pending record into the (empty) bucket of *job_id*: returns its id.
def _create(store: JobStore, job_id: str) -> str:
    return store.create("new", job_id=_in_bucket_of(job_id)).id


def _create_many(store: JobStore, job_id: str) -> str:
    return store.create_many(["new"], job_ids=[_in_bucket_of(job_id)])[0].id


def _create_keyed(store: JobStore, job_id: str) -> str:
    return store.create("new", key="k", job_id=_in_bucket_of(job_id)).id


def _release(store: JobStore, job_id: str) -> str:
    parent = store.create("parent")
    child = store.create("child", after=[parent.id], job_id=_in_bucket_of(job_id))
    store.fulfill(parent.id, "done")  # (releases the child into pending/)
    return child.id


WRITES: dict[str, Callable[[JobStore, str], str]] = {
    "create": _create, "create_many": _create_many, "create_keyed": _create_keyed, "release": _release,
}


def _emptied_bucket(root: Path, durable: bool) -> tuple[JobStore, JobStore, str]:
    """Two store objects on a new store: the writer, which made a job (so it holds its
    bucket open) and resolved it (so the bucket is empty), and the purger. Returns
    them and the job's id."""
    writer = JobStore(root, durable=durable, watch=False, create=True)
    purger = JobStore(root, durable=durable, watch=False)
    job_id = writer.create("first").id
    writer.fulfill(job_id, "done")
    assert os.listdir(os.path.dirname(pending_file(root, job_id))) == []
    return writer, purger, job_id


def _check(writer: JobStore, made: str | None, failure: BaseException | None) -> None:
    assert failure is None, f"the write raised {failure!r}"
    assert made is not None
    jobs = observe(writer)
    assert jobs[made].state == "pending", "the job written is lost"
    assert os.path.exists(pending_file(writer.path, made))
    check_files(writer.path)
    assert_check_clean(writer, frozenset({"leftover"}))


def _count(root: Path, durable: bool, spied: str, how: str) -> int:
    writer, purger, job_id = _emptied_bucket(root, durable)
    spy = FsSpy()
    with spy.installed():
        if spied == "purge":
            purger.purge(older_than=0)
        else:
            WRITES[how](writer, job_id)
    writer.close()
    purger.close()
    return spy.count


@pytest.mark.parametrize("durable", [True, False], ids=["durable", "nosync"])
@pytest.mark.parametrize("how", sorted(WRITES))
def test_a_purge_within_each_step_of_a_write_into_an_emptied_bucket_never_loses_the_job(
        tmp_path: Path, how: str, durable: bool) -> None:
    total = _count(tmp_path / "count", durable, "write", how)
    for k in range(1, total + 1):
        writer, purger, job_id = _emptied_bucket(tmp_path / f"k{k}", durable)
        purged: list[BaseException] = []

        def purge() -> None:
            try:
                purger.purge(older_than=0)  # noqa: B023
            except BaseException as exc:  # noqa: BLE001 - inspected below
                purged.append(exc)  # noqa: B023

        spy = before_call(k, purge)
        made, failure = None, None
        with spy.installed():
            try:
                made = WRITES[how](writer, job_id)
            except BaseException as exc:  # noqa: BLE001 - inspected below
                failure = exc
        try:
            assert purged == [], f"the purge raised {purged}"
            _check(writer, made, failure)
        except AssertionError as exc:
            raise AssertionError(f"a purge before the write's call {spy.calls[k - 1]!r}: {exc}") from None
        finally:
            writer.close()
            purger.close()


@pytest.mark.parametrize("durable", [True, False], ids=["durable", "nosync"])
@pytest.mark.parametrize("how", sorted(WRITES))
def test_a_write_within_each_step_of_a_purge_removing_its_bucket_is_never_lost(
        tmp_path: Path, how: str, durable: bool) -> None:
    total = _count(tmp_path / "count", durable, "purge", how)
    for k in range(1, total + 1):
        writer, purger, job_id = _emptied_bucket(tmp_path / f"k{k}", durable)
        outcome: dict[str, Any] = {}

        def write() -> None:
            try:
                outcome["id"] = WRITES[how](writer, job_id)  # noqa: B023
            except BaseException as exc:  # noqa: BLE001 - inspected below
                outcome["error"] = exc  # noqa: B023

        spy = before_call(k, write)
        with spy.installed():
            purger.purge(older_than=0)
        assert "id" in outcome or "error" in outcome, f"call {k} of {total} never came"
        try:
            _check(writer, outcome.get("id"), outcome.get("error"))
        except AssertionError as exc:
            raise AssertionError(f"a write before the purge's call {spy.calls[k - 1]!r}: {exc}") from None
        finally:
            writer.close()
            purger.close()


def test_a_purge_removes_the_empty_buckets_and_keeps_those_holding_a_job(tmp_path: Path) -> None:
    base = new_id()[:6]
    bucket_a, bucket_b, bucket_c = base + "A", base + "B", base + "C"
    with JobStore(tmp_path / "s", durable=False, watch=False, create=True) as store:
        done = store.create("done", job_id=bucket_a + new_id()[7:])
        kept = store.create("kept", job_id=bucket_b + new_id()[7:])
        queued = store.create("queued", job_id=bucket_c + new_id()[7:], priority=2)
        store.fulfill(done.id, "v")
        store.fulfill(queued.id, "v")
        store.purge()  # (no retention: every resolved job stays; only the empty buckets go)
        assert os.listdir(tmp_path / "s" / "pending") == [bucket_b]
        assert os.listdir(tmp_path / "s" / "queues" / "any" / "p2") == []
        assert store.get(kept.id).state == "pending" and store.get(done.id).state == "fulfilled"
        again = store.create("again", job_id=bucket_a + new_id()[7:])  # (its bucket, kept open, made again)
        assert os.path.exists(pending_file(store.path, again.id))
