"""Counts per task and state (``JobStore.stats_by_task``, the dashboard's per-task
table): the same as counting every job, with the history counted from its bucket
summaries rather than read."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from invariants import resolved_file

from fsjobstore import JobStore
from fsjobstore.job import STATES


def _counted(store: JobStore) -> dict[str, dict[str, int]]:
    """What reading every job gives."""
    seen = Counter((job.task or "", job.state) for job in store.jobs())
    return {task: {state: seen[task, state] for state in STATES} for task in {task for task, _ in seen}}


def test_counts_per_task_are_those_of_every_job(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    for n in range(3):
        store.create({"n": n}, task="mail")
    failed = store.create({"n": 3}, task="mail")
    store.fail(failed.id, "bounced")
    store.create({"n": 4}, task="render", labels={"to": "gpu-box"}, priority=5)  # in a queue of its own
    done = store.create({"n": 5}, task="render")
    store.fulfill(done.id, "ok")
    store.create("no task")
    lease = store.pull_work(tasks=["mail"])
    assert lease is not None
    try:
        counts, expected = store.stats_by_task(), _counted(store)
    finally:
        lease.release()
    assert counts == expected
    assert (counts["mail"]["pending"], counts["mail"]["running"], counts["mail"]["failed"]) == (2, 1, 1)
    assert (counts["render"]["pending"], counts["render"]["fulfilled"]) == (1, 1)
    assert counts[""]["pending"] == 1 and store.stats_by_task() == _counted(store)


def test_the_history_is_counted_from_its_summaries(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    ids = [store.create({"n": n}, task="mail").id for n in range(3)]
    for job_id in ids:
        store.fulfill(job_id, "sent")
    bucket = Path(resolved_file(store.path, ids[0])).parent
    info = os.lstat(bucket)  # (as if last changed 10 s ago: settled, so its summary is kept)
    os.utime(bucket, ns=(info.st_atime_ns, info.st_mtime_ns - 10 * 10**9))
    assert store.stats_by_task()["mail"]["fulfilled"] == 3
    Path(resolved_file(store.path, ids[0])).write_text("not a job")  # (in place; read, it would not count)
    assert store.stats_by_task()["mail"]["fulfilled"] == 3, "the record is not read: its bucket is unchanged"
