"""The resolved record in its bucket, as the hot path looks for it: a puller that
meets a resolution cut short finishes it, and a holder whose job was resolved by
another store object (another host) loses its lease."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable

import pytest
from invariants import check_files, resolved_file

from fsjobstore import JobStore
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
