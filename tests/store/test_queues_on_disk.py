"""Addressed and prioritised jobs on disk: the id names the queue, the queue folder
holds the pending record, and a pull lists and reads only its own queues."""

from __future__ import annotations

import os
from pathlib import Path

from invariants import FsSpy, pending_file, record_files

from fsjobstore import JobStore
from fsjobstore._files.queues import address_name, queue_of


def test_the_id_names_the_queue_whose_folder_holds_the_record(store: JobStore) -> None:
    plain = store.create("plain")
    urgent = store.create("urgent", priority=7, labels={"sender": "api"})
    mine = store.create("mine", priority=-2, labels={"to": "w7"})
    assert "-" not in plain.id and store.record_path(plain.id) == pending_file(store.path, plain.id)
    assert pending_file(store.path, plain.id).endswith(f"/pending/{plain.id[:7]}/{plain.id}.json")
    assert urgent.id.endswith("-any_p7") and queue_of(urgent.id) == ("any", "p7")
    assert store.record_path(urgent.id).endswith(f"/queues/any/p7/{urgent.id[:7]}/{urgent.id}.json")
    assert mine.id.endswith(f"-{address_name('w7')}_n2")
    assert store.record_path(mine.id).endswith(f"/queues/{address_name('w7')}/n2/{mine.id[:7]}/{mine.id}.json")
    assert b'"sender": "api"' in Path(store.record_path(urgent.id)).read_bytes()
    assert b'"labels"' not in Path(store.record_path(plain.id)).read_bytes()
    assert store.stats()["pending"] == 3 and store.check().clean


def test_a_queued_job_goes_through_its_whole_life_in_its_folder(store: JobStore) -> None:
    job = store.create("urgent", priority=3)
    store.queue(job.id, "t")
    lease = store.pull_work()
    assert lease is not None and lease.id == job.id
    lease.fail("boom", retry=True)
    lease = store.pull_work()
    assert lease is not None and lease.id == job.id and lease.attempts == 1
    lease.fail("boom")
    store.retry(job.id)
    assert store.get(job.id).state == "pending"
    store.cancel(job.id)
    assert record_files(store.path, "queues/any/p3") == []  # resolved: no pending record left
    note = store.pull_notification()
    assert note is not None and note.waiting == ["t"]
    note.done(["t"])
    assert store.purge(older_than=0) == 1
    assert os.listdir(Path(store.path, "queues", "any", "p3")) == [], "the empty bucket removed by the purge"
    assert store.check().clean


def test_an_addressed_pull_reads_nothing_of_other_queues(tmp_path: Path) -> None:
    with JobStore(tmp_path / "s", durable=False, create=True) as store:
        for n in range(300):
            store.create(n)
            store.create(n, labels={"to": "someone else"})
        mine = store.create("mine", labels={"to": "w7"})
        spy = FsSpy(record_paths=True)
        with spy.installed():
            lease = store.pull_work(to="w7")
        assert lease is not None and lease.id == mine.id
        reached = {os.path.relpath(path, store.path) for _, path in spy.paths}
        assert reached and not [p for p in reached if p.startswith("pending") or address_name("someone else") in p]
        opened = [call for call in spy.counted("open") if str(call.args[0]).endswith(".json")]
        assert len(opened) == 1  # its own record: no record read per candidate
        lease.release()


def test_check_moves_a_record_planted_outside_the_queue_its_id_names(store: JobStore) -> None:
    job = store.create("urgent", priority=3)
    other = Path(store.path, "queues", "any", "p4")
    other.mkdir()
    os.link(store.record_path(job.id), other / f"{job.id}.json")
    report = store.check(repair=True)
    assert [(p.kind, p.repaired) for p in report.problems] == [("stray", True)]
    assert store.check().clean and store.get(job.id).state == "pending"


def test_a_symlink_planted_as_a_queue_folder_is_never_followed(store: JobStore, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "p5").mkdir(parents=True)
    os.symlink(elsewhere, Path(store.path, "queues", address_name("w7")))
    assert store.pull_work(to="w7") is None and list(store.jobs()) == []
    assert [p.kind for p in store.check(repair=True).problems] == ["symlink"]
    assert store.create("x", labels={"to": "w7"}).labels == {"to": "w7"}
    assert os.listdir(elsewhere / "p5") == []


def test_pages_of_jobs_follow_creation_order_across_queues_whatever_else_the_folders_hold(store: JobStore) -> None:
    made = [store.create(n, priority=n % 3, labels={"to": "w1"} if n % 4 == 0 else None).id for n in range(40)]
    store.fulfill(made[5], "done")
    pending = os.path.join(store.path, "pending")
    for stray in ("x y.json", "0.json", "ZZZZ.json.tmp", made[1].split("-")[0] + "x.tmp"):
        Path(pending, stray).write_text("{}")  # (names no record has: never listed)
    # "0" is a valid id: its record is corrupt, so it is skipped and named once.
    seen: list[str] = []
    after = None
    while page := [job.id for job in store.jobs(limit=7, after=after)]:
        seen += page
        after = page[-1]
    assert seen == made
    newest = [job.id for job in store.jobs(limit=9, newest_first=True)]
    assert newest == made[::-1][:9]
    assert [job.id for job in store.jobs("pending", limit=3, after=made[4])] == [made[6], made[7], made[8]]
