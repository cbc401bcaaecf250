"""Counts per task and state (``JobStore.stats_by_task``, the dashboard's per-task
table): the same as counting every job, with the history counted from its bucket
summaries rather than read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from invariants import FsSpy, resolved_file

from fsjobstore import JobStore
from fsjobstore.job import STATES
from fsjobstore.views import Census


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
    plain = store.create("no task")
    store.create({"n": 6}, task="render", after=[plain.id])  # (blocked: counted too)
    lease = store.pull_work(tasks=["mail"])
    assert lease is not None
    try:
        counts, expected = store.stats_by_task(), _counted(store)
    finally:
        lease.release()
    assert counts == expected
    assert (counts["mail"]["pending"], counts["mail"]["running"], counts["mail"]["failed"]) == (2, 1, 1)
    assert (counts["render"]["pending"], counts["render"]["fulfilled"], counts["render"]["blocked"]) == (1, 1, 1)
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


def _age(path: str | Path, seconds: float = 10) -> None:
    """Set a folder's mtime *seconds* back (as if it last changed that long ago: settled)."""
    info = os.lstat(path)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns - int(seconds * 1e9)))


def _age_pending(store: JobStore) -> None:
    """Age every pending bucket folder (settled, as if unchanged for a while)."""
    for folder in Path(store.path, "pending").iterdir():
        _age(folder)


def _saved_pending(store: JobStore) -> dict[str, Any]:
    """The saved entries of the one pending bucket the test's jobs are in."""
    folders = json.loads(Path(store.path, "summaries", "unresolved.tasks.json").read_text())["folders"]
    (entry,) = [fields for name, fields in folders.items() if name.startswith("pending/")]
    return entry  # type: ignore[no-any-return]


def _opened(call: Callable[[], object]) -> set[str]:
    """The ids of the job records *call* opened."""
    spy = FsSpy()
    with spy.installed():
        call()
    stems = {os.path.basename(str(c.args[0]))[:-5] for c in spy.counted("open") if str(c.args[0]).endswith(".json")}
    return {stem for stem in stems if len(stem) == 26}


def test_only_unresolved_records_new_or_changed_since_are_read(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    ids = [store.create({"n": n}, task="mail").id for n in range(30)]
    assert _opened(store.stats_by_task) == set(ids)
    assert _opened(store.stats_by_task) == set(), "nothing changed: nothing read"
    new = store.create("new", task="render")
    lease = store.pull_work()
    assert lease is not None
    lease.fail("busy", retry=True)  # (its record rewritten: read again)
    assert _opened(store.stats_by_task) == {new.id, lease.id}
    assert store.stats_by_task() == _counted(store)


def test_a_new_process_reads_only_the_records_added_since_the_saved_ones(
        open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    ids = [store.create({"n": n}, task="mail").id for n in range(20)]
    _age_pending(store)
    assert store.stats_by_task()["mail"]["pending"] == 20  # (saved: every folder settled)
    assert set(_saved_pending(store)["records"]) == set(ids)
    more = open_store(watch=False).create("more", task="render")
    other = open_store(watch=False)  # (nothing remembered: what another process sees)
    assert _opened(other.stats_by_task) == {more.id}
    assert other.stats_by_task() == _counted(other)
    answer = subprocess.run([sys.executable, "-m", "fsjobstore", "--store", store.path, "stats", "--by-task",
                             "--json"], capture_output=True, text=True, check=True)
    assert json.loads(answer.stdout) == _counted(other)


def test_a_settled_folder_unchanged_since_is_not_even_listed(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    job = store.create("x", task="mail")
    _age_pending(store)
    assert store.stats_by_task()["mail"]["pending"] == 1
    record = Path(store.record_path(job.id))
    record.write_text(record.read_text().replace('"mail"', '"spam"'))  # (in place; read, it would count)
    assert store.stats_by_task()["mail"]["pending"] == 1, "the folder is unchanged: its records are not read"
    assert open_store(watch=False).stats_by_task()["mail"]["pending"] == 1, "nor by a new store object"
    store.create("y")  # (the folder changed: the record's new identity is seen)
    assert store.stats_by_task()["spam"]["pending"] == 1


def test_a_folder_that_only_lost_records_is_saved_as_it_is_once_settled(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    ids = [store.create({"n": n}, task="mail").id for n in range(5)]
    pending = Path(store.record_path(ids[1])).parent
    _age_pending(store)
    store.stats_by_task()
    store.fulfill(ids[0], "sent")  # (nothing new to read in its folder: one record fewer)
    _age_pending(store)
    assert store.stats_by_task()["mail"]["pending"] == 4
    saved = _saved_pending(store)
    info = os.lstat(pending)
    assert saved["folder"] == [info.st_ino, info.st_mtime_ns, info.st_ctime_ns] and saved["settled"], \
        "saved as it is now: a new process need not list it"


def test_a_store_changed_by_another_process_between_counts(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    keep = [store.create({"n": n}, task="mail").id for n in range(5)]
    assert store.stats_by_task() == _counted(store)
    script = textwrap.dedent(f"""
        from fsjobstore import JobStore
        with JobStore({store.path!r}, durable=False) as other:
            other.create("a", task="render")
            other.create("b", task="render", labels={{"to": "gpu"}}, priority=3)
            lease = other.pull_work(tasks=["mail"])
            lease.fulfill("sent")
            first, second, third, _ = [job_id for job_id in {keep!r} if job_id != lease.id]
            other.fail(first, "bounced")
            other.retry(first)
            other.cancel(second)
            other.delete(second)
            other.create("c", after=[third])
    """)
    subprocess.run([sys.executable, "-c", script], check=True)
    counts = store.stats_by_task()
    assert counts == _counted(store)
    assert (counts["mail"]["pending"], counts["mail"]["fulfilled"], counts["render"]["pending"],
            counts[""]["blocked"]) == (3, 1, 2, 1)


def test_a_garbled_or_foreign_saved_file_is_not_used(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    for n in range(3):
        store.create({"n": n}, task="mail")
    _age_pending(store)
    store.stats_by_task()
    saved = Path(store.path, "summaries", "unresolved.tasks.json")
    fields = json.loads(saved.read_text())
    for entry in _saved_pending(store)["records"].values():
        entry[0] = 7  # (a task that is no string)
    for garbage in (json.dumps(fields), json.dumps({**fields, "version": 99}), "{not json", "[]"):
        saved.write_text(garbage)
        assert open_store(watch=False).stats_by_task() == {"mail": {**dict.fromkeys(STATES, 0), "pending": 3}}


def test_a_corrupt_unresolved_record_is_reported_and_not_counted(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    store.create("good", task="mail")
    bad = store.create("bad", task="mail")
    Path(store.record_path(bad.id)).write_text("not a job")
    assert store.stats_by_task()["mail"]["pending"] == 1


def _census(store: JobStore) -> Census:
    """The census by reading every job."""
    census = Census(jobs=_counted(store))
    for job in store.jobs():
        census.failed_attempts[job.task or ""] += job.attempts
        for entry in job.history:
            census.outcomes[job.task or "", str(entry.get("outcome"))] += 1
    return census


def test_the_census_counts_attempts_and_outcomes_as_reading_every_job(open_store: Callable[..., JobStore]) -> None:
    store = open_store()
    for n in range(4):
        store.create({"n": n}, task="mail")
    store.create("r", task="render")
    for outcome in ("retry", "retry", "fail", "fulfil"):
        lease = store.pull_work(tasks=["mail"])
        assert lease is not None
        if outcome == "fulfil":
            lease.fulfill("sent")
        else:
            lease.fail("bounced", retry=outcome == "retry")
    census = store.census()
    assert census == _census(store)
    assert census.failed_attempts["mail"] == 3 and census.outcomes["mail", "retried"] == 2
    _age_pending(store)
    for bucket in Path(store.path, "resolved").iterdir():
        _age(bucket)
    assert open_store(watch=False).census() == census, "from the saved summaries and records too"
