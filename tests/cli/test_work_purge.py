"""`fsjobstore work --purge-every`: the worker purges what is past the retention."""

from __future__ import annotations

import signal
from pathlib import Path

from clihelpers import popen, stop
from invariants import age_resolved
from loophelpers import wait_for

from fsjobstore import JobStore

WEEK = 7 * 24 * 3600


def test_fsjobstore_work_purges_with_purge_every(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    with JobStore(store_dir, create=True, durable=False) as store:
        old = _aged(store)
    proc = popen("work", "--poll-interval", "0.05", "--purge-every", "0.2", "--", "cat", store=store_dir,
                 cwd=tmp_path)
    try:
        with JobStore(store_dir, durable=False) as store:
            wait_for(lambda: old not in {job.id for job in store.jobs()}, timeout=15,
                     what="the old job purged by `work`")
    finally:
        status, _, err, _ = stop(proc, signal.SIGINT, timeout=20)
    assert status == 0, err


def _aged(store: JobStore) -> str:
    job = store.create({"old": True})
    store.fulfill(job.id, "v")
    age_resolved(store.path, job.id, WEEK + 3600)
    return job.id
