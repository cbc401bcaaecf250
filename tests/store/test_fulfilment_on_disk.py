"""The resolved record in its bucket, as the hot path looks for it: a puller that
meets a resolution cut short finishes it, and a holder whose job was resolved by
another store object (another host) loses its lease."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable

import pytest
from invariants import check_files, resolved_file

from fsjobstore import JobStore
from fsjobstore._files.ids import id_at
from fsjobstore.errors import Loss, LossReason


@pytest.mark.parametrize("labels", [None, {"to": "mailer"}], ids=["pending", "queue"])
def test_a_pull_finishes_a_resolution_cut_short_instead_of_running_the_job_again(
    open_store: Callable[..., JobStore], labels: dict[str, str] | None
) -> None:
    store = open_store(watch=False)
    job = store.create({"n": 1}, labels=labels)
    pending = store.context.layout.pending_path(job.id)
    kept = os.fspath(store.path) + "/pending-copy"
    shutil.copyfile(pending, kept)
    store.fulfill(job.id, "done")
    # A resolver that died after publishing the result, before unlinking the pending record:
    shutil.copyfile(kept, pending)
    os.unlink(kept)
    assert os.path.exists(resolved_file(store.path, job.id))
    to = labels["to"] if labels else None
    assert (store.pull_work(to=to) if to else store.pull_work()) is None
    assert not os.path.exists(pending)
    assert store.get(job.id).state == "fulfilled" and store.get(job.id).text == "done"
    check_files(store.path)


def test_a_holder_loses_its_lease_once_another_host_resolved_its_job(open_store: Callable[..., JobStore]) -> None:
    mine = open_store(lease_seconds=0.6, watch=False)
    other = open_store(lease_seconds=0.6, watch=False)  # (its own store object: another host's view)
    job = mine.create({"n": 1})
    lease = mine.pull_work()
    assert lease is not None and lease.id == job.id
    other.cancel(job.id)
    deadline = time.monotonic() + 15.0
    while not lease.compromised and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lease.compromised, "the renewal never saw the job resolved elsewhere"
    assert lease.loss == Loss(LossReason.RESOLVED_ELSEWHERE)


def test_threads_of_one_store_object_resolve_into_many_buckets_at_once(open_store: Callable[..., JobStore]) -> None:
    # The bucket a store object keeps open is shared by its threads: one moving it to
    # another bucket must not close the descriptor another is linking through (its
    # number reused: ENOTDIR, or a record linked into the wrong folder).
    store = open_store()
    now_ms = int(time.time() * 1000)
    ids = [id_at(now_ms - (n % 8) * 20 * 60 * 1000) for n in range(400)]  # 8 buckets, interleaved
    for job_id in ids:
        store.create(job_id, job_id=job_id)
    failures: list[BaseException] = []

    def resolve(share: list[str]) -> None:
        try:
            for job_id in share:
                store.fulfill(job_id, "v")
        except BaseException as exc:  # (reported by the test, not lost in a thread)
            failures.append(exc)

    threads = [threading.Thread(target=resolve, args=(ids[n::4],)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert all(os.path.exists(resolved_file(store.path, job_id)) for job_id in ids), "each in its own bucket"
    assert store.stats()["fulfilled"] == 400
    check_files(store.path)
